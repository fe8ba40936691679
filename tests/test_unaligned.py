"""Arrays at an odd byte offset (np.frombuffer of a byte buffer) never reach a kernel: the ops copy such
inputs, so results equal those of aligned copies, and refuse such outputs and in-place arrays with a
TypeError. (The C kernels read floats through float pointers, which C requires to be aligned;
.ci/ubsan.sh runs these tests under UBSan, which aborts on a misaligned load.)"""
import numpy as np
import pytest

import fastnn
from fastnn import _C, ops

rng = np.random.default_rng(3)


def misaligned(a):
    """A writeable copy of a whose data starts one byte past an aligned address."""
    a = np.asarray(a)
    buf = np.zeros(a.nbytes + 1, np.uint8)
    view = np.frombuffer(buf, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    view[...] = a
    assert not view.flags.aligned and view.flags.writeable
    return view


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def assert_same(got, expected):
    for g, e in zip(got if isinstance(got, tuple) else (got,), expected if isinstance(expected, tuple) else (expected,)):
        if isinstance(e, np.ndarray):
            np.testing.assert_array_equal(g, e)
        else:
            assert g == e


def call_both(fn, *arrays, **kwargs):
    """fn on aligned arrays and on misaligned copies of every ndarray argument: equal results."""
    expected = fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in arrays], **kwargs)
    got = fn(*[misaligned(a) if isinstance(a, np.ndarray) else a for a in arrays], **kwargs)
    assert_same(got, expected)


x, w, b = rand(37, 29), rand(29, 17), rand(17)
CASES = {
    "matmul": (ops.matmul, (x, w)),
    "matmul trans": (lambda a, c: ops.matmul(a, c, trans_b=True), (x, rand(13, 29))),
    "dense": (lambda *a: ops.dense(*a, activation="tanh"), (x, w, b)),
    "dense_backward": (lambda *a: ops.dense_backward(*a), (x, w, rand(37, 17))),
    "activation relu": (lambda a: ops.activation_forward("relu", a), (rand(1001),)),
    "activation gelu backward": (lambda a, d: ops.activation_backward("gelu", a, None, d), (rand(257), rand(257))),
    "softmax": (lambda a: ops.activation_forward("softmax", a), (rand(9, 33),)),
    "mse": (ops.loss_mse, (rand(40, 3), rand(40, 3))),
    "categorical crossentropy": (lambda t, p: ops.loss_categorical_crossentropy(t, p, from_logits=True),
                                 (np.eye(5, dtype=np.float32)[rng.integers(0, 5, 31)], rand(31, 5))),
    "sparse categorical": (lambda t, p: ops.loss_sparse_categorical_crossentropy(t, p, from_logits=True),
                           (rng.integers(0, 5, 31), rand(31, 5))),
    "l2_norm": (ops.l2_norm, (rand(5000),)),
    "bias_grad": (ops.bias_grad, (rand(64, 19),)),
    "conv2d": (lambda a, k: ops.conv2d(a, k, padding="same"), (rand(2, 9, 9, 3), rand(3, 3, 3, 4))),
    "depthwise": (lambda a, k: ops.depthwise_conv2d(a, k), (rand(2, 8, 8, 3), rand(3, 3, 3, 1))),
    "max_pool2d": (lambda a: ops.max_pool2d(a, 2), (rand(2, 8, 8, 3),)),
    "lstm": (lambda a, k, r: ops.lstm(a, k, r, return_sequences=True)[0], (rand(3, 5, 4), rand(4, 24), rand(6, 24))),
    "gru": (lambda a, k, r: ops.gru(a, k, r)[0], (rand(3, 5, 4), rand(4, 18), rand(6, 18))),
    "embedding": (ops.embedding_lookup, (rng.integers(0, 10, (3, 5)), rand(10, 4))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_misaligned_inputs_give_the_aligned_result(name, nthreads):
    fn, arrays = CASES[name]
    call_both(fn, *arrays)


def test_misaligned_inputs_to_optimizer_gradients_are_copied():
    p, g, m, v = rand(300), rand(300), np.zeros(300, np.float32), np.zeros(300, np.float32)
    p2, m2, v2 = p.copy(), m.copy(), v.copy()
    ops.adam_update(p, g, m, v, None, 1e-3, 0.9, 0.999, 1e-7, 1)
    ops.adam_update(p2, misaligned(g), m2, v2, None, 1e-3, 0.9, 0.999, 1e-7, 1)
    np.testing.assert_array_equal(p, p2)


@pytest.mark.parametrize("call", [
    lambda out: ops.matmul(x, w, out=out),
    lambda out: ops.dense(x, w, b, out=out),
    lambda out: ops.activation_forward("tanh", rand(37, 17), out=out),
])
def test_misaligned_outputs_are_refused(call):
    out = misaligned(np.zeros((37, 17), np.float32))
    with pytest.raises(TypeError, match="aligned"):
        call(out)
    assert not out.any()


def test_misaligned_arrays_updated_in_place_are_refused():
    p = misaligned(rand(100))
    before = p.copy()
    with pytest.raises(TypeError, match="aligned"):
        ops.sgd_update(p, rand(100), None, 0.1)
    np.testing.assert_array_equal(p, before)


def test_the_bindings_refuse_misaligned_arrays_that_bypass_the_ops():
    with pytest.raises(TypeError, match="aligned"):
        _C.sgemm(misaligned(x), w)
    assert not _C.is_f32(misaligned(x)) and _C.is_f32(x)
    assert _C.contiguous_f32(misaligned(x)).flags.aligned


def test_a_model_trains_and_predicts_on_misaligned_data():
    fastnn.set_seed(1)
    data, labels = rand(64, 6), rng.integers(0, 3, 64)
    preds = []
    for xs, ys in ((data, labels), (misaligned(data), misaligned(labels))):
        fastnn.set_seed(1)
        model = fastnn.Sequential([fastnn.layers.Input((6,)), fastnn.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(xs, ys, epochs=2, batch_size=16, verbose=0, shuffle=False)
        preds.append(model.predict(xs, verbose=0))
    np.testing.assert_array_equal(*preds)
