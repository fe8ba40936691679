"""fastnn.ops.nn: activations, bias_grad, fused losses, optimizer updates and reductions.

Every kernel is checked against tests/reference.py in float64, every gradient against finite
differences of the float64 reference, and every reduction for bitwise equality across thread counts.
"""
import ctypes
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import fastnn
from fastnn import _C, ops
from fastnn.ops import nn

import reference as ref

ACTS = nn.ACTIVATIONS
SHAPES = [(1,), (7,), (3, 5), (0,), (4, 0), (2, 3, 11), (257, 301)]  # the last one is threaded
LOSS_KINDS = {  # kind in reference.loss_value_and_grad -> call of fastnn.ops
    "mse": lambda t, p, **kw: ops.loss_mse(t, p, **kw),
    "mae": lambda t, p, **kw: ops.loss_mae(t, p, **kw),
    "huber": lambda t, p, **kw: ops.loss_huber(t, p, delta=0.5, **kw),
    "bce": lambda t, p, **kw: ops.loss_binary_crossentropy(t, p, **kw),
    "bce_logits": lambda t, p, **kw: ops.loss_binary_crossentropy(t, p, from_logits=True, **kw),
    "cce": lambda t, p, **kw: ops.loss_categorical_crossentropy(t, p, **kw),
    "cce_logits": lambda t, p, **kw: ops.loss_categorical_crossentropy(t, p, from_logits=True, **kw),
}


def act_input(rng, shape, name):
    """Inputs away from each activation's kink, where finite differences are meaningful."""
    x = rng.normal(scale=2.0, size=shape)
    if name in ("relu", "leaky_relu", "elu"):
        x = np.where(np.abs(x) < 1e-2, 0.5, x)
    return x.astype(np.float32)


def guarded(shape, fill=np.float32(1234.5)):
    """A C-contiguous view of `shape` in the middle of a bigger buffer, and a check of its margins."""
    n = int(np.prod(shape))
    buf = np.full(n + 32, fill, np.float32)
    view = buf[16:16 + n].reshape(shape)

    def untouched():
        return np.all(buf[:16] == fill) and np.all(buf[16 + n:] == fill)
    return view, untouched


def loss_inputs(rng, kind, rows, cols):
    if kind in ("bce", "cce"):
        p = rng.uniform(0.05, 0.95, size=(rows, cols))
    else:
        p = rng.normal(size=(rows, cols))
    if kind in ("cce", "cce_logits"):
        t = rng.dirichlet(np.ones(cols), size=rows)
    elif kind in ("bce", "bce_logits"):
        t = rng.uniform(size=(rows, cols))
    else:
        t = rng.normal(size=(rows, cols))
    return t.astype(np.float32), p.astype(np.float32)


# ---- activations ----

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ACTS)
def test_activation_forward_backward_vs_reference(name, shape, nthreads, rng):
    x = act_input(rng, shape, name)
    dy = rng.normal(size=shape).astype(np.float32)
    y = ops.activation_forward(name, x)
    assert y.dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(y, ref.nn_activation(x, name), rtol=2e-6, atol=1e-7)
    dx = ops.activation_backward(name, x, y, dy)
    assert dx.dtype == np.float32 and dx.shape == shape
    np.testing.assert_allclose(dx, ref.nn_activation_grad(x, dy, name), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ACTS)
def test_activation_independent_of_simd_path(name, simd, rng):
    x = act_input(rng, (5, 9), name)
    np.testing.assert_allclose(ops.activation_forward(name, x), ref.nn_activation(x, name), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("name", ACTS)
def test_activation_backward_finite_differences(name, rng):
    x = act_input(rng, (3, 6), name).astype(np.float64)
    dy = rng.normal(size=x.shape)
    h = 1e-6
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):  # d/dx_i of sum(dy * act(x)), valid for softmax's coupled rows too
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        numeric[i] = (np.sum(dy * ref.nn_activation(xp, name)) - np.sum(dy * ref.nn_activation(xm, name))) / (2 * h)
    x32 = x.astype(np.float32)
    dx = ops.activation_backward(name, x32, ops.activation_forward(name, x32), dy.astype(np.float32))
    np.testing.assert_allclose(dx, numeric, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,alpha", [("leaky_relu", 0.01), ("leaky_relu", 0.5), ("elu", 0.3), ("elu", 2.0)])
def test_activation_alpha(name, alpha, rng):
    x = act_input(rng, (4, 8), name)
    dy = rng.normal(size=x.shape).astype(np.float32)
    y = ops.activation_forward(name, x, alpha=alpha)
    np.testing.assert_allclose(y, ref.nn_activation(x, name, alpha), rtol=2e-6, atol=1e-7)
    dx = ops.activation_backward(name, x, y, dy, alpha=alpha)
    np.testing.assert_allclose(dx, ref.nn_activation_grad(x, dy, name, alpha), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ACTS)
def test_activation_backward_reads_only_what_it_documents(name, rng):
    x = act_input(rng, (3, 4), name)
    y = ops.activation_forward(name, x)
    dy = rng.normal(size=x.shape).astype(np.float32)
    needs = nn.activation_backward_input(name)
    expected = ops.activation_backward(name, x, y, dy)
    got = ops.activation_backward(name, x if needs == "x" else None, y if needs == "y" else None, dy)
    np.testing.assert_array_equal(got, expected)
    assert needs == {"relu": "y", "elu": "y", "sigmoid": "y", "tanh": "y", "softmax": "y", "linear": None}.get(name, "x")
    if needs is not None:
        with pytest.raises(ValueError, match=f"needs {needs}"):
            ops.activation_backward(name, None, None, dy)


@pytest.mark.parametrize("name", ACTS)
def test_activation_in_place_and_guards(name, rng):
    x = act_input(rng, (6, 7), name)
    dy = rng.normal(size=x.shape).astype(np.float32)
    y = ops.activation_forward(name, x)
    dx = ops.activation_backward(name, x, y, dy)
    out, untouched = guarded(x.shape)
    assert ops.activation_forward(name, x, out=out) is out
    np.testing.assert_array_equal(out, y)
    assert untouched()
    out, untouched = guarded(x.shape)
    ops.activation_backward(name, x, y, dy, out=out)
    np.testing.assert_array_equal(out, dx)
    assert untouched()
    x_copy, dy_copy = x.copy(), dy.copy()
    ops.activation_backward(name, x_copy if name not in ("relu", "elu", "sigmoid", "tanh", "softmax") else None,
                            y, dy_copy, out=dy_copy)
    np.testing.assert_array_equal(dy_copy, dx)
    ops.activation_forward(name, x_copy, out=x_copy)
    np.testing.assert_array_equal(x_copy, y)


@pytest.mark.parametrize("name", ["gelu", "softmax", "relu", "tanh"])
def test_activation_bitwise_across_threads(name, rng):
    x = act_input(rng, (301, 409), name)
    dy = rng.normal(size=x.shape).astype(np.float32)
    results = []
    for n in (1, 2):
        with fastnn.threads(n):
            y = ops.activation_forward(name, x)
            results.append((y, ops.activation_backward(name, x, y, dy)))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_activation_stability_extremes():
    x = np.array([[-1e4, -90.0, -20.0, 0.0, 20.0, 90.0, 1e4]], np.float32)
    for name in ACTS:
        y = ops.activation_forward(name, x)
        assert np.all(np.isfinite(y)), name
        assert np.all(np.isfinite(ops.activation_backward(name, x, y, np.ones_like(x)))), name
    np.testing.assert_array_equal(ops.activation_forward("sigmoid", x)[0, [0, -1]], [0.0, 1.0])
    np.testing.assert_allclose(ops.activation_forward("softplus", x)[0, -1], 1e4)
    np.testing.assert_allclose(ops.activation_forward("softmax", x)[0, -1], 1.0)
    assert ops.activation_forward("gelu", np.array([-8.0], np.float32))[0] < 0  # erfc keeps the tail


# ---- accuracy of csrc/vmath.h over the whole float range ----

EXTREMES = [0.0, -0.0, 1e-45, -1e-45, 1e-38, -1e-38, 1e-30, -1e-30, 1e-8, -1e-8, 80.0, -80.0, 88.7, -88.7,
            90.0, -90.0, 104.0, -104.0, 1e4, -1e4, 3e38, -3e38, np.inf, -np.inf, np.nan]


def wide_floats(rng, lo=-120.0, hi=120.0):
    """Dense uniform values on [lo, hi], every binade of both signs, and EXTREMES, as float32."""
    magnitudes = 10.0 ** rng.uniform(-45, 38.5, size=20000)
    x = np.concatenate([rng.uniform(lo, hi, size=100000), magnitudes, -magnitudes, EXTREMES])
    with np.errstate(over="ignore"):
        return x.astype(np.float32)


def ulp_error(got, ref, floor=2.0 ** -149):
    """|got - ref| in units of the float32 spacing at ref (at least floor, the smallest subnormal by
    default); 0 where both are the same inf or both NaN, inf where only one of them is."""
    with np.errstate(invalid="ignore"):
        got = np.asarray(got, np.float64)
    # values that round to float32 infinity are infinity
    ref = np.where(np.abs(ref) >= 2.0 ** 128 * (1 - 2.0 ** -25), np.copysign(np.inf, ref), ref)
    with np.errstate(over="ignore", invalid="ignore"):
        spacing = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
        err = np.abs(got - ref) / np.maximum(spacing, floor)
    same_special = (np.isnan(got) & np.isnan(ref)) | (np.isinf(ref) & (got == ref))
    err[same_special] = 0.0
    err[np.isnan(err)] = np.inf
    return err


def sigmoid64(x):
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


# name -> (float64 reference, max ulp of forward); backward checked for the kernels that read x
VMATH_ACTIVATIONS = {
    "sigmoid": (sigmoid64, 3),
    "tanh": (np.tanh, 3),
    "softplus": (lambda x: np.logaddexp(0.0, x), 2),
    "elu": (np.expm1, 2),  # alpha = 1: expm1 itself for x <= 0
    "silu": (lambda x: x * sigmoid64(x), 4),
}


@pytest.mark.parametrize("name", list(VMATH_ACTIVATIONS))
def test_activation_ulp_accuracy_over_all_floats(name, rng):
    reference, max_ulp = VMATH_ACTIVATIONS[name]
    x = wide_floats(rng)
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        want = np.where(x64 > 0, x64, reference(x64)) if name == "elu" else reference(x64)
    # silu multiplies by x a sigmoid that is subnormal below -87: its ulps are then x times bigger
    floor = 2.0 ** -149 * np.maximum(np.abs(x64), 1.0) if name == "silu" else 2.0 ** -149
    err = ulp_error(ops.activation_forward(name, x), want, floor)
    assert err.max() <= max_ulp, (name, x[np.argmax(err)], err.max())


def test_gelu_accuracy_over_all_floats(rng):
    x = wide_floats(rng, -14.0, 14.0)
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        cdf = ref._normal_cdf(x64)
        want = np.where(x64 == -np.inf, 0.0, x64 * cdf)  # the limit, where x * cdf is -inf * 0
        want_grad = cdf + x64 * np.exp(-0.5 * x64 * x64) / np.sqrt(2 * np.pi)
    y = ops.activation_forward("gelu", x).astype(np.float64)
    dx = ops.activation_backward("gelu", x, None, np.ones_like(x)).astype(np.float64)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    # a few ulp everywhere, the lower tail included (x^2/2 reaches exp with its rounding error)
    big = finite & (np.abs(want) > 1e-30)
    rel = np.abs(y[big] - want[big]) / np.abs(want[big])
    assert np.all(rel < 5e-7), (x[big][np.argmax(rel)], rel.max())
    assert np.all(np.abs(y[finite & ~big]) <= 1e-29)
    fin_grad = np.isfinite(want_grad)
    np.testing.assert_allclose(dx[fin_grad], want_grad[fin_grad], rtol=1e-6, atol=3e-7)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus", "silu", "gelu", "elu"])
def test_activation_specials(name):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45], np.float32)
    y = ops.activation_forward(name, x)
    limits = {  # f(0), f(-0), f(inf), f(-inf) (NaN where x * f'(..) is inf * 0 in the formula too; gelu's
        # formula max(x, 0) - |x| erfc(|x| / sqrt2) / 2 stops |x| where erfc is 0, so it reaches its limit)
        "sigmoid": [0.5, 0.5, 1.0, 0.0], "tanh": [0.0, -0.0, 1.0, -1.0], "softplus": [np.log(2), np.log(2), np.inf, 0.0],
        "silu": [0.0, 0.0, np.inf, np.nan], "gelu": [0.0, 0.0, np.inf, 0.0], "elu": [0.0, 0.0, np.inf, -1.0],
    }[name]
    np.testing.assert_allclose(y[:4], np.array(limits, np.float32), rtol=1e-7)
    assert np.isnan(y[4])
    if name == "tanh":
        assert np.signbit(y[1]) and not np.signbit(y[0]) and y[5] == x[5] and y[6] == x[6]


def test_bce_from_logits_accuracy_at_extremes():
    z = np.array([[-1e4, -90.0, -80.0, -20.0, -1e-8, 0.0, 1e-8, 20.0, 80.0, 90.0, 1e4]], np.float32)
    for t in (np.zeros_like(z), np.ones_like(z), np.full_like(z, 0.25)):
        value, grad = ops.loss_binary_crossentropy(t, z, from_logits=True)
        with np.errstate(over="ignore"):
            ref_value, ref_grad = ref.loss_value_and_grad("bce_logits", t, z, None)
        assert value == pytest.approx(ref_value, rel=1e-6)
        # s(z) - y: s(z) near 1 is rounded to float, so the absolute error is ~2^-25 / n
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-6, atol=6e-8 / z.size)


def test_cross_entropies_accuracy_wide_range(rng):
    z = (rng.standard_normal((64, 33)) * 30).astype(np.float32)
    p = np.exp(rng.uniform(-16, 0, size=(64, 33))).astype(np.float32)
    t = rng.uniform(size=(64, 33)).astype(np.float32)
    tc = rng.dirichlet(np.ones(33), size=64).astype(np.float32)
    for kind, tt, pp in [("bce", t, np.clip(p, 0, 1)), ("bce_logits", t, z), ("cce", tc, p), ("cce_logits", tc, z)]:
        value, grad = LOSS_KINDS[kind](tt, pp)
        ref_value, ref_grad = ref.loss_value_and_grad(kind, tt, pp, None)
        assert value == pytest.approx(ref_value, rel=2e-6), kind
        np.testing.assert_allclose(grad, ref_grad, rtol=2e-5, atol=1e-6 * np.abs(ref_grad).max(), err_msg=kind)


@pytest.mark.parametrize("kind", list(LOSS_KINDS))
def test_a_nan_prediction_gives_a_nan_loss_and_a_nan_gradient(kind, rng):
    """Never a plausible number: huber's gradient was -delta there, the clipped cross-entropies' 0."""
    t, p = loss_inputs(rng, kind, 300, 3)
    p[7, 1] = np.nan
    value, grad = LOSS_KINDS[kind](t, p)
    assert np.isnan(value)
    assert np.isnan(grad[7, 1])
    assert np.all(np.isfinite(np.delete(grad, 7, axis=0)))


VMATH_SHIM = """
#include "vmath.h"
#define WRAP(name, expr) void name##_n(const float *x, float *y, ptrdiff_t n) { \\
    for (ptrdiff_t i = 0; i < n; i++) { float v = x[i]; y[i] = expr; } }
WRAP(exp, vm_expf(v))
WRAP(exp_neg, vm_exp_negf(-fabsf(v)))
WRAP(expm1, vm_expm1f(v))
WRAP(log, vm_logf(v))
WRAP(log1p, vm_log1pf(v))
WRAP(log_sigmoid, vm_log_sigmoidf(v))
WRAP(sigmoid, vm_sigmoidf(v))
WRAP(tanh, vm_tanhf(v))
WRAP(softplus, vm_softplusf(v))
WRAP(normal_cdf, vm_normal_cdf(v, vm_gaussf(v)))
WRAP(gelu, vm_geluf(v))
"""


def setup_isa_flags():
    """The per-ISA compile flags setup.py gives the elementwise builds, read from its source."""
    import ast
    tree = ast.parse((ROOT / "setup.py").read_text())
    flags = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
             if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
             and node.targets[0].id in ("AVX2_FLAGS", "AVX512_FLAGS")}
    return {"scalar": [], "avx2": flags["AVX2_FLAGS"], "avx512": flags["AVX512_FLAGS"]}


ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", params=_C.SIMD_PATHS)
def vmath_lib(request, tmp_path_factory):
    """vmath.h built as the extension builds it for each SIMD path this CPU has (-O3, that path's flags
    from setup.py, no -ffast-math), one loop per function; gcc must report every loop vectorised."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    if not _C.cpu_supports(request.param):
        pytest.skip(f"this CPU does not support {request.param}")
    tmp = tmp_path_factory.mktemp("vmath")
    (tmp / "shim.c").write_text(VMATH_SHIM)
    lib = tmp / "libvmath.so"
    result = subprocess.run(["gcc", "-O3", "-std=c11", "-fno-math-errno", "-Wall", "-shared", "-fPIC",
                             *setup_isa_flags()[request.param], "-fopt-info-vec-optimized", f"-I{ROOT / 'csrc'}",
                             str(tmp / "shim.c"), "-o", str(lib)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    vectorised = {line.split(":")[1] for line in result.stderr.splitlines() if "loop vectorized" in line}
    wrappers = [i + 1 for i, line in enumerate(VMATH_SHIM.splitlines()) if line.startswith("WRAP(")]
    assert {str(i) for i in wrappers} <= vectorised, result.stderr
    return ctypes.CDLL(str(lib))


def vmath_call(lib, name, x):
    x = np.ascontiguousarray(x, np.float32)
    y = np.empty_like(x)
    getattr(lib, name + "_n")(ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(y.ctypes.data), ctypes.c_ssize_t(x.size))
    return y


# name -> (float64 reference, max ulp) on every SIMD path
VMATH_FUNCTIONS = {
    "exp": (np.exp, 1.5),
    "exp_neg": (lambda x: np.exp(-np.abs(x)), 1.5),
    "expm1": (np.expm1, 2),
    "log": (np.log, 1),
    "log1p": (np.log1p, 1),
    "log_sigmoid": (lambda x: -np.logaddexp(0.0, -x), 2),
    "sigmoid": (sigmoid64, 3),
    "tanh": (np.tanh, 3),
    "softplus": (lambda x: np.logaddexp(0.0, x), 2),
}


@pytest.mark.parametrize("name", list(VMATH_FUNCTIONS))
def test_vmath_ulp_accuracy(name, vmath_lib, rng):
    reference, max_ulp = VMATH_FUNCTIONS[name]
    every_bit_pattern = rng.integers(0, 2 ** 32, size=500000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x = np.concatenate([wide_floats(rng), every_bit_pattern, rng.uniform(-1, 4, 100000).astype(np.float32)])
    with np.errstate(all="ignore"):
        want = reference(x.astype(np.float64))
    err = ulp_error(vmath_call(vmath_lib, name, x), want)
    assert err.max() <= max_ulp, (name, x[np.argmax(err)], err.max())


def test_vmath_normal_cdf(vmath_lib, rng):
    x = np.concatenate([rng.uniform(-11, 11, 200000), rng.uniform(-1.5, 1.5, 100000)]).astype(np.float32)
    want = ref._normal_cdf(x.astype(np.float64))
    got = vmath_call(vmath_lib, "normal_cdf", x).astype(np.float64)
    assert np.abs(got - want).max() < 2e-7  # ~3 ulp of 1/2, near x = 0
    assert (np.abs(got - want) / want).max() < 5e-7  # relative, down to 1e-28 at x = -11
    specials = vmath_call(vmath_lib, "normal_cdf", np.array([np.inf, -np.inf, np.nan, 0.0], np.float32))
    assert specials[0] == 1.0 and specials[1] == 0.0 and np.isnan(specials[2]) and specials[3] == 0.5
    gelu = vmath_call(vmath_lib, "gelu", x).astype(np.float64)
    assert (np.abs(gelu - x * want) / np.abs(x * want))[x != 0].max() < 5e-7


def test_activation_accepts_lists_and_other_dtypes():
    np.testing.assert_array_equal(ops.activation_forward("relu", [[-1, 2]]), np.array([[0, 2]], np.float32))
    x64 = np.linspace(-2, 2, 12).reshape(3, 4)[:, ::2]  # float64 and not contiguous
    np.testing.assert_allclose(ops.activation_forward("tanh", x64), np.tanh(x64), rtol=2e-6)


def test_activation_errors():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        ops.activation_forward("swish", x)
    with pytest.raises(ValueError, match="alpha only applies"):
        ops.activation_forward("relu", x, alpha=0.1)
    with pytest.raises(ValueError, match="alpha >= 0"):
        ops.activation_forward("elu", x, alpha=-1.0)
    for name in ("leaky_relu", "elu"):
        for bad in (np.nan, np.inf, -np.inf):
            with pytest.raises(ValueError, match=f"alpha must be finite, got {bad}"):
                ops.activation_forward(name, x, alpha=bad)
        with pytest.raises(TypeError, match="alpha must be a number, got str"):
            ops.activation_forward(name, x, alpha="1")
    np.testing.assert_array_equal(ops.activation_forward("leaky_relu", x - 1, alpha=np.float32(0.5)), -0.5)
    with pytest.raises(ValueError, match="shape"):
        ops.activation_forward("relu", x, out=np.zeros((3, 2), np.float32))
    with pytest.raises(TypeError, match="float32"):
        ops.activation_forward("relu", x, out=np.zeros((2, 3)))
    with pytest.raises(TypeError, match="real numbers"):
        ops.activation_forward("relu", np.array(["a"]))
    ro = np.zeros((2, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.activation_forward("relu", x, out=ro)
    buf = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="overlaps"):
        ops.activation_forward("relu", buf[:6].reshape(2, 3), out=buf[2:8].reshape(2, 3))
    with pytest.raises(ValueError, match="at least 1-D"):
        ops.activation_forward("softmax", np.float32(1.0))
    with pytest.raises(ValueError, match="shape"):
        ops.activation_backward("gelu", np.zeros(4, np.float32), None, np.zeros(5, np.float32))
    with pytest.raises(TypeError):
        _C.activation_forward(1, None, x)
    with pytest.raises(ValueError, match="unknown activation code"):
        _C.activation_forward(99, x, x.copy())
    with pytest.raises(ValueError, match="sizes differ"):
        _C.activation_forward(1, x, np.zeros(5, np.float32))
    # the fast path leaves shape checks to the binding: a float32 out of the same size but another shape
    with pytest.raises(ValueError, match="shape"):
        _C.activation_forward(1, x, np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="y has shape"):
        ops.activation_backward("relu", None, np.zeros((3, 2), np.float32), x)
    with pytest.raises(ValueError, match="shape"):
        ops.bias_grad(np.zeros((2, 3), np.float32), out=np.zeros((1, 3), np.float32))


# ---- bias_grad and l2_norm ----

@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (0, 5), (5, 0), (2, 3, 4), (97, 1), (300, 513)])
def test_bias_grad(shape, nthreads, rng):
    dy = rng.normal(size=shape).astype(np.float32)
    out, untouched = guarded(shape[-1:])
    assert ops.bias_grad(dy, out=out) is out
    assert untouched()
    expected = dy.astype(np.float64).sum(axis=tuple(range(dy.ndim - 1)))
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ops.bias_grad(dy), out)


def test_bias_grad_bitwise_across_threads_and_errors(rng):
    dy = rng.normal(size=(1000, 700)).astype(np.float32)
    with fastnn.threads(1):
        one = ops.bias_grad(dy)
    with fastnn.threads(2):
        two = ops.bias_grad(dy)
    np.testing.assert_array_equal(one, two)
    with pytest.raises(ValueError, match="at least 2-D"):
        ops.bias_grad(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="shape"):
        ops.bias_grad(np.zeros((2, 3), np.float32), out=np.zeros(4, np.float32))


@pytest.mark.parametrize("n", [0, 1, 7, 64, 1000, 100003])
def test_l2_norm(n, nthreads, rng):
    x = rng.normal(size=n).astype(np.float32)
    np.testing.assert_allclose(ops.l2_norm(x), np.linalg.norm(x.astype(np.float64)), rtol=1e-12)
    assert isinstance(ops.l2_norm(x), float)


def test_l2_norm_bitwise_across_threads(rng):
    x = rng.normal(size=(1001, 999)).astype(np.float32)
    with fastnn.threads(1):
        one = ops.l2_norm(x)
    with fastnn.threads(2):
        two = ops.l2_norm(x)
    assert one == two
    assert ops.l2_norm([3, 4]) == 5.0


# ---- losses ----

@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 1), (7, 3), (5, 13), (1000, 97)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", list(LOSS_KINDS))
def test_loss_vs_reference(kind, rows, cols, weighted, nthreads, rng):
    if kind == "cce" and cols == 1:
        pytest.skip("a single normalised class is always 1")
    t, p = loss_inputs(rng, kind, rows, cols)
    w = rng.uniform(0.1, 2.0, size=rows).astype(np.float32) if weighted else None
    value, grad = LOSS_KINDS[kind](t, p, sample_weight=w)
    ref_value, ref_grad = ref.loss_value_and_grad(kind, t, p, w, delta=0.5)
    assert isinstance(value, float) and grad.dtype == np.float32 and grad.shape == p.shape
    assert value == pytest.approx(ref_value, rel=1e-5, abs=1e-7)
    scale = np.abs(ref_grad).max() + 1e-30
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-6 * scale)


@pytest.mark.parametrize("kind", list(LOSS_KINDS))
def test_loss_gradient_finite_differences(kind, rng):
    t, p = loss_inputs(rng, kind, 4, 5)
    w = rng.uniform(0.5, 2.0, size=4).astype(np.float32)
    _, grad = LOSS_KINDS[kind](t, p, sample_weight=w)
    p64, h = p.astype(np.float64), 1e-6
    numeric = np.zeros_like(p64)
    for i in np.ndindex(p.shape):
        pp, pm = p64.copy(), p64.copy()
        pp[i] += h
        pm[i] -= h
        numeric[i] = (ref.loss_value_and_grad(kind, t, pp, w, 0.5)[0]
                      - ref.loss_value_and_grad(kind, t, pm, w, 0.5)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-5 * np.abs(numeric).max())


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("rows,cols", [(1, 1), (1, 2), (7, 3), (1000, 97)])
def test_sparse_categorical_vs_one_hot(rows, cols, from_logits, nthreads, rng):
    kind = "cce_logits" if from_logits else "cce"
    _, p = loss_inputs(rng, kind, rows, cols)
    labels = rng.integers(0, cols, size=rows)
    w = rng.uniform(0.1, 2.0, size=rows).astype(np.float32)
    value, grad = ops.loss_sparse_categorical_crossentropy(labels, p, sample_weight=w, from_logits=from_logits)
    ref_value, ref_grad = ref.loss_value_and_grad(kind, ref.one_hot(labels, cols), p, w)
    assert value == pytest.approx(ref_value, rel=1e-5, abs=1e-7)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-6 * np.abs(ref_grad).max())
    for other in (labels.astype(np.int32), labels.reshape(-1, 1), labels.astype(np.float64), list(labels)):
        v2, g2 = ops.loss_sparse_categorical_crossentropy(other, p, sample_weight=w, from_logits=from_logits)
        assert v2 == value
        np.testing.assert_array_equal(g2, grad)


@pytest.mark.parametrize("kind", list(LOSS_KINDS) + ["scce", "scce_logits"])
def test_loss_bitwise_across_threads_grad_out_guards(kind, rng):
    rows, cols = 2000, 61
    t, p = loss_inputs(rng, kind.replace("scce", "cce"), rows, cols)
    labels = rng.integers(0, cols, size=rows)
    w = rng.uniform(0.1, 2.0, size=rows).astype(np.float32)

    def call(**kw):
        if kind.startswith("scce"):
            return ops.loss_sparse_categorical_crossentropy(labels, p, sample_weight=w,
                                                             from_logits=kind.endswith("logits"), **kw)
        return LOSS_KINDS[kind](t, p, sample_weight=w, **kw)
    with fastnn.threads(1):
        v1, g1 = call()
    with fastnn.threads(2):
        out, untouched = guarded(p.shape)
        v2, g2 = call(grad_out=out)
    assert v1 == v2 and g2 is out and untouched()
    np.testing.assert_array_equal(g1, g2)
    p_copy = p.copy()
    if kind.startswith("scce"):
        v3, g3 = ops.loss_sparse_categorical_crossentropy(labels, p_copy, sample_weight=w,
                                                          from_logits=kind.endswith("logits"), grad_out=p_copy)
    else:
        v3, g3 = LOSS_KINDS[kind](t, p_copy, sample_weight=w, grad_out=p_copy)  # in place
    assert v3 == v1 and g3 is p_copy
    np.testing.assert_array_equal(g3, g1)


def test_loss_keras_conventions(rng):
    t = np.array([[1.0], [0.0], [1.0]], np.float32)
    p = np.array([[0.0], [1.0], [1.0]], np.float32)  # clipped: finite loss, no gradient through the clip
    value, grad = ops.loss_binary_crossentropy(t, p)
    one_minus_eps = np.float32(1 - 1e-7)  # Keras's clip bound rounded to float32: 1 - 2**-23
    assert value == pytest.approx((-np.log(np.float32(1e-7)) - np.log(1 - np.float64(one_minus_eps))) / 3, rel=1e-6)
    np.testing.assert_array_equal(grad, 0.0)
    z = np.array([[-200.0, 200.0, 0.0]], np.float32)
    value, grad = ops.loss_binary_crossentropy(np.array([[1.0, 0.0, 1.0]], np.float32), z, from_logits=True)
    assert np.isfinite(value) and value == pytest.approx((200 + 200 + np.log(2)) / 3, rel=1e-6)
    value, grad = ops.loss_categorical_crossentropy([[0.0, 1.0, 0.0]], [[1000.0, -1000.0, 0.0]], from_logits=True)
    assert value == pytest.approx(2000.0) and np.all(np.isfinite(grad))
    # y_true (B,) against y_pred (B, 1), and (B, 1) weights, as Keras squeezes them
    yp = rng.normal(size=(5, 1)).astype(np.float32)
    yt = rng.normal(size=5).astype(np.float32)
    w = rng.uniform(size=5).astype(np.float32)
    v_a, g_a = ops.loss_mse(yt, yp, sample_weight=w)
    v_b, g_b = ops.loss_mse(yt.reshape(5, 1), yp, sample_weight=w.reshape(5, 1))
    assert v_a == v_b
    np.testing.assert_array_equal(g_a, g_b)
    # (B,) weights on (B, T, C) predictions weigh every step; the batch size is B*T
    yp3 = rng.normal(size=(2, 3, 4)).astype(np.float32)
    yt3 = rng.normal(size=(2, 3, 4)).astype(np.float32)
    v3, g3 = ops.loss_mse(yt3, yp3, sample_weight=np.array([1.0, 0.5], np.float32))
    rv, rg = ref.loss_value_and_grad("mse", yt3.reshape(6, 4), yp3.reshape(6, 4), np.repeat([1.0, 0.5], 3))
    assert v3 == pytest.approx(rv, rel=1e-6)
    np.testing.assert_allclose(g3.reshape(6, 4), rg, rtol=1e-5)
    # an empty batch has loss 0
    value, grad = ops.loss_mse(np.zeros((0, 3)), np.zeros((0, 3)))
    assert value == 0.0 and grad.shape == (0, 3)
    value, grad = ops.loss_sparse_categorical_crossentropy(np.zeros(0, np.int64), np.zeros((0, 3)))
    assert value == 0.0 and grad.shape == (0, 3)


def test_loss_errors():
    p = np.full((2, 3), 0.5, np.float32)
    with pytest.raises(ValueError, match="label 3 at index 1 is out of range for 3 classes"):
        ops.loss_sparse_categorical_crossentropy([0, 3], p)
    with pytest.raises(ValueError, match="out of range"):
        ops.loss_sparse_categorical_crossentropy(np.array([-1, 0], np.int32), p, from_logits=True)
    with pytest.raises(ValueError, match="out of range"):
        ops.loss_sparse_categorical_crossentropy(np.array([0, 2**40], np.uint64), p)
    with pytest.raises(ValueError, match="whole numbers"):
        ops.loss_sparse_categorical_crossentropy([0.5, 1.0], p)
    with pytest.raises(TypeError, match="integer class indices"):
        ops.loss_sparse_categorical_crossentropy(["a", "b"], p)
    with pytest.raises(ValueError, match="labels must have shape"):
        ops.loss_sparse_categorical_crossentropy([0, 1, 2], p)
    with pytest.raises(ValueError, match="y_true has shape"):
        ops.loss_mse(np.zeros((3, 2)), p)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        ops.loss_categorical_crossentropy(p, p, sample_weight=[1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="float32"):
        ops.loss_mae(p, p, grad_out=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        ops.loss_mae(p, p, grad_out=np.zeros((3, 2), np.float32))
    ro = np.zeros((2, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.loss_huber(p, p, grad_out=ro)
    with pytest.raises(ValueError, match="delta"):
        ops.loss_huber(p, p, delta=-1.0)
    with pytest.raises(ValueError, match="non-empty last axis"):
        ops.loss_mse(np.zeros((2, 0)), np.zeros((2, 0)))
    with pytest.raises(ValueError, match="grad must not share memory with y_true"):
        ops.loss_mse(p, p.copy(), grad_out=p)
    with pytest.raises(TypeError):
        _C.loss_pointwise(0, None, p, None, p.copy())
    with pytest.raises(TypeError, match="int64"):
        _C.loss_sparse_categorical(np.zeros(2, np.int32), p, None, p.copy())
    # float32 inputs whose shapes do not line up leave the fast path for Keras's shape rules (fastnn._shapes)
    with pytest.raises(ValueError, match="loss_mse: y_true has shape"):
        ops.loss_mse(np.zeros((3, 2), np.float32), p)
    with pytest.raises(ValueError, match=r"out has shape \(3, 2\), expected \(2, 3\)"):
        ops.loss_mse(p, p, grad_out=np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        ops.loss_mse(p, p, sample_weight=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="labels must have shape"):
        ops.loss_sparse_categorical_crossentropy(np.zeros(3, np.int64), p)


# ---- optimizer updates ----

def run_steps(update, p0, grads, states):
    p = p0.copy()
    for step, g in enumerate(grads, start=1):
        update(p, g, states, step)
    return p


OPTIMIZERS = {
    # name: (reference kind, hyperparameters, state names, one fastnn step)
    "sgd": ("sgd", dict(lr=0.1), [],
            lambda p, g, s, k: ops.sgd_update(p, g, None, 0.1, grad_scale=0.5)),
    "sgd_momentum": ("sgd", dict(lr=0.1, momentum=0.9), ["velocity"],
                     lambda p, g, s, k: ops.sgd_update(p, g, s["velocity"], 0.1, 0.9, grad_scale=0.5)),
    "sgd_nesterov": ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True), ["velocity"],
                     lambda p, g, s, k: ops.sgd_update(p, g, s["velocity"], 0.1, 0.9, True, grad_scale=0.5)),
    "adam": ("adam", dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-7), ["m", "v"],
             lambda p, g, s, k: ops.adam_update(p, g, s["m"], s["v"], None, 0.01, 0.9, 0.999, 1e-7, k, 0.5)),
    "amsgrad": ("adam", dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7, amsgrad=True), ["m", "v", "vhat"],
                lambda p, g, s, k: ops.adam_update(p, g, s["m"], s["v"], s["vhat"], 0.01, 0.8, 0.99, 1e-7, k, 0.5)),
    "adamw": ("adamw", dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-7, weight_decay=0.05), ["m", "v"],
              lambda p, g, s, k: ops.adam_update(p, g, s["m"], s["v"], None, 0.01, 0.9, 0.999, 1e-7, k, 0.5,
                                                 0.01 * 0.05)),
    "adamw_amsgrad": ("adamw", dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7, weight_decay=0.05, amsgrad=True),
                      ["m", "v", "vhat"],
                      lambda p, g, s, k: ops.adam_update(p, g, s["m"], s["v"], s["vhat"], 0.01, 0.8, 0.99, 1e-7, k,
                                                         0.5, 0.01 * 0.05)),
    "rmsprop": ("rmsprop", dict(lr=0.01, rho=0.9, momentum=0.0, eps=1e-7, centered=False), ["velocity"],
                lambda p, g, s, k: ops.rmsprop_update(p, g, s["velocity"], None, None, 0.01, 0.9, 0.0, 1e-7,
                                                      False, 0.5)),
    "rmsprop_centered_momentum": (
        "rmsprop", dict(lr=0.01, rho=0.8, momentum=0.5, eps=1e-7, centered=True), ["velocity", "mb", "avg"],
        lambda p, g, s, k: ops.rmsprop_update(p, g, s["velocity"], s["mb"], s["avg"], 0.01, 0.8, 0.5, 1e-7,
                                              True, 0.5)),
    "adagrad": ("adagrad", dict(lr=0.1, eps=1e-7), ["accumulator"],
                lambda p, g, s, k: ops.adagrad_update(p, g, s["accumulator"], 0.1, 1e-7, 0.5)),
}


def fresh_states(names, n):
    return {k: np.full(n, 0.1 if k == "accumulator" else 0.0, np.float32) for k in names}


@pytest.mark.parametrize("n", [1, 7, 1000, 70001])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_vs_reference(name, n, nthreads, rng):
    kind, hyper, state_names, update = OPTIMIZERS[name]
    p0 = rng.normal(size=n).astype(np.float32)
    grads = [rng.normal(size=n).astype(np.float32) for _ in range(4)]
    got = run_steps(update, p0, grads, fresh_states(state_names, n))
    expected = ref.optimizer_steps(kind, p0, grads, grad_scale=0.5, **hyper)
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_bitwise_across_threads_and_guards(name, rng):
    kind, hyper, state_names, update = OPTIMIZERS[name]
    n = 100003
    p0 = rng.normal(size=n).astype(np.float32)
    grads = [rng.normal(size=n).astype(np.float32) for _ in range(3)]
    with fastnn.threads(1):
        one = run_steps(update, p0, grads, fresh_states(state_names, n))
    with fastnn.threads(2):
        p, untouched = guarded((n,))
        p[:] = p0
        states = fresh_states(state_names, n)
        for step, g in enumerate(grads, start=1):
            update(p, g, states, step)
    np.testing.assert_array_equal(one, p)
    assert untouched()


def test_optimizers_vs_torch(rng):
    torch = pytest.importorskip("torch")
    n, steps, lr = 50, 5, 0.01
    p0 = rng.normal(size=n).astype(np.float32)
    grads = [rng.normal(size=n).astype(np.float32) for _ in range(steps)]
    tiny = 1e-12  # where Keras and torch place eps differently, make it vanish

    def with_torch(make):
        w = torch.tensor(p0.copy(), requires_grad=True)
        opt = make([w])
        for g in grads:
            w.grad = torch.tensor(g)
            opt.step()
        return w.detach().numpy()

    cases = {
        "sgd_momentum": (lambda ps: torch.optim.SGD(ps, lr=lr, momentum=0.9),
                         lambda p, g, s, k: ops.sgd_update(p, g, s["v"], lr, 0.9)),
        "sgd_nesterov": (lambda ps: torch.optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True),
                         lambda p, g, s, k: ops.sgd_update(p, g, s["v"], lr, 0.9, True)),
        "adam": (lambda ps: torch.optim.Adam(ps, lr=lr, betas=(0.9, 0.999), eps=tiny),
                 lambda p, g, s, k: ops.adam_update(p, g, s["m"], s["v"], None, lr, 0.9, 0.999, tiny, k)),
        "amsgrad": (lambda ps: torch.optim.Adam(ps, lr=lr, betas=(0.9, 0.99), eps=tiny, amsgrad=True),
                    lambda p, g, s, k: ops.adam_update(p, g, s["m"], s["v"], s["vhat"], lr, 0.9, 0.99, tiny, k)),
        "adamw": (lambda ps: torch.optim.AdamW(ps, lr=lr, eps=tiny, weight_decay=0.1),
                  lambda p, g, s, k: ops.adam_update(p, g, s["m"], s["v"], None, lr, 0.9, 0.999, tiny, k,
                                                     decay=lr * 0.1)),
        "rmsprop": (lambda ps: torch.optim.RMSprop(ps, lr=lr, alpha=0.9, eps=tiny),
                    lambda p, g, s, k: ops.rmsprop_update(p, g, s["v"], None, None, lr, 0.9, 0.0, tiny, False)),
        "rmsprop_centered_momentum": (
            lambda ps: torch.optim.RMSprop(ps, lr=lr, alpha=0.9, eps=tiny, momentum=0.5, centered=True),
            lambda p, g, s, k: ops.rmsprop_update(p, g, s["v"], s["mb"], s["avg"], lr, 0.9, 0.5, tiny, True)),
        "adagrad": (lambda ps: torch.optim.Adagrad(ps, lr=lr, eps=tiny, initial_accumulator_value=0.1),
                    lambda p, g, s, k: ops.adagrad_update(p, g, s["acc"], lr, tiny)),
    }
    for name, (make, update) in cases.items():
        states = {k: np.zeros(n, np.float32) for k in ("v", "m", "vhat", "mb", "avg")}
        states["acc"] = np.full(n, 0.1, np.float32)
        got = run_steps(update, p0, grads, states)
        np.testing.assert_allclose(got, with_torch(make), rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_fused_decay_equals_decay_then_adam(amsgrad, simd, nthreads, rng):
    """The one-pass AdamW gives the bits of decay_weights followed by the Adam step; inf and NaN
    parameters stay what they are when there is no decay."""
    n = 70001
    p0 = rng.normal(size=n).astype(np.float32)
    p0[:3] = [np.inf, -np.inf, np.nan]
    grads = [rng.normal(size=n).astype(np.float32) for _ in range(3)]
    names = ["m", "v", "vhat"] if amsgrad else ["m", "v"]

    def adam(p, g, s, k, decay):
        ops.adam_update(p, g, s["m"], s["v"], s.get("vhat"), 0.01, 0.9, 0.99, 1e-7, k, 0.5, decay)

    fused = run_steps(lambda p, g, s, k: adam(p, g, s, k, 0.01 * 0.05), p0, grads, fresh_states(names, n))
    two_pass = run_steps(lambda p, g, s, k: (ops.decay_weights(p, 0.01 * 0.05), adam(p, g, s, k, 0.0)),
                         p0, grads, fresh_states(names, n))
    np.testing.assert_array_equal(fused, two_pass)
    plain = run_steps(lambda p, g, s, k: adam(p, g, s, k, 0.0), p0, grads, fresh_states(names, n))
    assert list(plain[:2]) == [np.inf, -np.inf] and np.isnan(plain[2])


def test_decay_and_clip(nthreads, rng):
    for n in (0, 1, 13, 70001):
        p = rng.normal(size=n).astype(np.float32)
        expected = p.astype(np.float64) * (1 - 0.01)
        ops.decay_weights(p, 0.01)
        np.testing.assert_allclose(p, expected, rtol=1e-6)
        x = rng.normal(size=n).astype(np.float32) * 3
        expected = np.clip(x, -1.5, 1.5)
        ops.clip_values(x, 1.5)
        np.testing.assert_array_equal(x, expected)
    x = np.array([np.nan, -np.inf, np.inf, 0.5], np.float32)
    ops.clip_values(x, 1.0)
    assert np.isnan(x[0]) and list(x[1:]) == [-1.0, 1.0, 0.5]
    x = np.array([-3.0, 3.0], np.float32)
    ops.clip_values(x, float("inf"))
    assert list(x) == [-3.0, 3.0]


def test_optimizer_errors():
    p = np.zeros(4, np.float32)
    g = np.ones(4, np.float32)
    with pytest.raises(TypeError, match="sgd_update: p is updated in place"):
        ops.sgd_update(p.astype(np.float64), g, None, 0.1)
    with pytest.raises(TypeError, match="in place"):
        ops.adam_update(list(p), g, p.copy(), p.copy(), None, 0.1, 0.9, 0.999, 1e-7, 1)
    with pytest.raises(TypeError, match="in place"):
        ops.decay_weights(np.zeros(8, np.float32)[::2], 0.1)
    with pytest.raises(TypeError, match="velocity"):
        ops.sgd_update(p, g, None, 0.1, momentum=0.9)
    with pytest.raises(ValueError, match="sizes differ"):
        ops.sgd_update(p, np.ones(5, np.float32), None, 0.1)
    with pytest.raises(ValueError, match="v has 3 values"):
        ops.adam_update(p, g, p.copy(), np.zeros(3, np.float32), None, 0.1, 0.9, 0.999, 1e-7, 1)
    with pytest.raises(ValueError, match="step counts from 1"):
        ops.adam_update(p, g, p.copy(), p.copy(), None, 0.1, 0.9, 0.999, 1e-7, 0)
    with pytest.raises(ValueError, match="share memory"):
        ops.adam_update(p, g, p, p.copy(), None, 0.1, 0.9, 0.999, 1e-7, 1)
    with pytest.raises(ValueError, match="gradient shares memory"):
        ops.adagrad_update(p, p, np.ones(4, np.float32), 0.1, 1e-7)
    with pytest.raises(TypeError, match="average_grad"):
        ops.rmsprop_update(p, g, p.copy(), None, None, 0.1, 0.9, 0.0, 1e-7, True)
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.adagrad_update(ro, g, np.ones(4, np.float32), 0.1, 1e-7)
    with pytest.raises(ValueError, match="limit must be >= 0"):
        ops.clip_values(p, -1.0)
    with pytest.raises(TypeError):
        _C.sgd_update(None, g, None, 0.1)
    with pytest.raises(ValueError, match="momentum != 0 needs a velocity"):
        _C.sgd_update(p, g, None, 0.1, 0.9)
