"""The Embedding layer: lookup, sparse gradient, masks, bad input, pretrained vectors, the optimizers'
row-wise update (bitwise the whole-vector update) and fastnn.text.load_word_vectors."""
import gzip

import numpy as np
import pytest

import fastnn
from fastnn.layers import Dense, Embedding, Flatten
from layer_helpers import check_layer


def test_check_layer_with_repeated_ids():
    ids = np.array([[1, 4, 1, 0], [6, 6, 6, 2], [0, 0, 3, 9]])
    y = check_layer(Embedding(10, 3), (3, 4), (3, 4, 3), 30, x=ids)
    layer = Embedding(10, 3)
    layer.build((None, 4))
    layer.set_weights([np.arange(30, dtype=np.float32).reshape(10, 3)])
    np.testing.assert_array_equal(layer(ids), layer.embeddings[ids])
    assert y.shape == (3, 4, 3)


def test_mask_zero_makes_a_mask_and_config_round_trips():
    layer = Embedding(5, 2, mask_zero=True, name="emb")
    assert layer.makes_mask and not Embedding(5, 2).makes_mask
    ids = np.array([[3, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(layer.compute_mask(ids, None), ids != 0)
    assert Embedding(5, 2).compute_mask(ids, None) is None
    config = layer.get_config()
    assert config["mask_zero"] is True and config["embeddings_initializer"]["class_name"] == "RandomUniform"
    assert Embedding.from_config(config).get_config() == config


def _model(optimizer, vocab=300, dim=4, steps=6, regularizer=None, shared=False):
    fastnn.set_seed(3)
    ids = fastnn.Input((steps,), dtype="int64")
    embedding = Embedding(vocab, dim, embeddings_regularizer=regularizer)
    h = Flatten()(embedding(ids))
    if shared:  # the embedding called twice: its second call adds to the gradient the first wrote
        h = fastnn.layers.Concatenate()([h, Flatten()(embedding(ids))])
    model = fastnn.Model(ids, Dense(1)(h))
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _train(model, whole_vector, epochs=3):
    """Fit on fixed data; whole_vector forces the optimizer's update over every parameter."""
    model._ensure_packed()
    if whole_vector:
        model.optimizer._row_variables = []
    rng = np.random.default_rng(0)
    x = rng.integers(0, 300, size=(96, 6))
    y = rng.normal(size=(96, 1)).astype(np.float32)
    fastnn.set_seed(4)  # the same shuffles
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    return model.get_weights()


@pytest.mark.filterwarnings("ignore:fit. the loss is nan")  # Adagrad with a zero root, on purpose
@pytest.mark.parametrize("optimizer,rowwise", [
    (lambda: fastnn.optimizers.SGD(0.1), True),
    (lambda: fastnn.optimizers.SGD(0.1, clipnorm=0.5), True),
    (lambda: fastnn.optimizers.Adagrad(0.1), True),
    (lambda: fastnn.optimizers.Adagrad(0.1, initial_accumulator_value=0.0, epsilon=0.0), False),
    (lambda: fastnn.optimizers.SGD(0.1, momentum=0.9), False),
    (lambda: fastnn.optimizers.SGD(0.1, weight_decay=0.01), False),
    (lambda: fastnn.optimizers.Adam(0.01), False),
])
@pytest.mark.parametrize("shared", [False, True])
def test_rowwise_update_is_bitwise_the_whole_update(optimizer, rowwise, shared, nthreads):
    model = _model(optimizer(), shared=shared)
    model._ensure_packed()
    assert bool(model.optimizer._row_variables) == rowwise
    sparse = _train(model, whole_vector=False)
    dense = _train(_model(optimizer(), shared=shared), whole_vector=True)
    for a, b in zip(sparse, dense):
        np.testing.assert_array_equal(a, b)


def test_a_regularized_embedding_updates_every_row():
    regularizer = fastnn.regularizers.L2(0.01)
    sparse = _train(_model(fastnn.optimizers.SGD(0.1), regularizer=regularizer), whole_vector=False)
    dense = _train(_model(fastnn.optimizers.SGD(0.1), regularizer=regularizer), whole_vector=True)
    for a, b in zip(sparse, dense):
        np.testing.assert_array_equal(a, b)
    untouched = np.setdiff1d(np.arange(300), np.random.default_rng(0).integers(0, 300, size=(96, 6)))
    start = _model(fastnn.optimizers.SGD(0.1)).get_weights()[0]
    assert not np.array_equal(sparse[0][untouched], start[untouched])  # decayed by the regularizer


def test_backward_writes_only_the_rows_of_the_batch():
    """After a step the gradient holds the last batch's rows only: the earlier batch's are cleared."""
    model = _model(fastnn.optimizers.SGD(0.1))
    embedding = model.layers[1]
    first, second = np.array([[1, 2, 3, 4, 5, 6]]), np.array([[7, 7, 8, 9, 10, 11]])
    model.train_on_batch(first, np.ones((1, 1)))
    model.train_on_batch(second, np.ones((1, 1)))
    grad = embedding.grads[0]
    nonzero = np.flatnonzero(np.any(grad != 0, axis=1))
    np.testing.assert_array_equal(nonzero, [7, 8, 9, 10, 11])
    np.testing.assert_array_equal(embedding.touched_rows(0), [7, 8, 9, 10, 11])


def test_untouched_rows_keep_their_bits_under_sgd():
    model = _model(fastnn.optimizers.SGD(0.1))
    before = model.get_weights()[0].copy()
    model.train_on_batch(np.array([[1, 2, 3, 4, 5, 6]]), np.ones((1, 1)))
    after = model.get_weights()[0]
    changed = np.flatnonzero(np.any(after != before, axis=1))
    np.testing.assert_array_equal(changed, [1, 2, 3, 4, 5, 6])


def test_pretrained_frozen_vectors():
    matrix = np.random.default_rng(1).normal(size=(20, 3)).astype(np.float32)
    model = fastnn.Sequential([
        fastnn.Input((4,), dtype="int64"),
        Embedding(20, 3, embeddings_initializer=fastnn.initializers.Constant(matrix), trainable=False),
        Flatten(), Dense(1)])
    np.testing.assert_array_equal(model.get_weights()[0], matrix)
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.arange(40).reshape(10, 4) % 20, np.ones((10, 1)), epochs=2, verbose=0)
    np.testing.assert_array_equal(model.get_weights()[0], matrix)
    assert model.layers[0].grads == [None]
    config = model.layers[0].get_config()  # the matrix lives in the weights, not the config
    assert config["embeddings_initializer"]["class_name"] == "RandomUniform"


def test_constant_takes_a_matrix_and_refuses_a_wrong_shape():
    matrix = np.arange(6).reshape(2, 3)
    init = fastnn.initializers.Constant(matrix)
    np.testing.assert_array_equal(init((2, 3)), matrix)
    assert fastnn.initializers.Constant.from_config(init.get_config())((2, 3)).tolist() == matrix.tolist()
    with pytest.raises(ValueError, match=r"shape \(2, 3\) does not fit a weight of shape \(3, 3\)"):
        init((3, 3))
    np.testing.assert_array_equal(Embedding(2, 3, weights=[matrix])(np.array([[1]]))[0, 0], matrix[1])


def test_bad_input_is_refused_clearly():
    model = fastnn.Sequential([Embedding(10, 2, input_length=3), Flatten(), Dense(1)])
    assert model.inputs[0].dtype == "int64"
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match=r"expected integer token ids, got float64 value 2.5 at index \(1, 0\)"):
        model.predict(np.array([[0, 1, 2], [2.5, 1, 0]]))
    with pytest.raises(TypeError, match="expected integer token ids, got float32 value nan"):
        model.predict(np.full((2, 3), np.nan, np.float32))
    ids = np.array([[1, 2, 3], [4, 5, 9]])
    np.testing.assert_array_equal(model.predict(ids.astype(np.float32), verbose=0), model.predict(ids, verbose=0))
    with pytest.raises(TypeError, match="pad it with fastnn.utils.pad_sequences"):
        model.fit([[1, 2, 3], [4, 5]], np.zeros(2))
    with pytest.raises(ValueError, match=r"id 10 at position \(1, 2\) is out of range \[0, 10\)"):
        model.predict(np.array([[1, 2, 3], [4, 5, 10]]))
    x = fastnn.Input((3,))
    functional = fastnn.Model(x, Dense(1)(Flatten()(Embedding(10, 2)(x))))
    with pytest.raises(TypeError, match=r"Embedding 'embedding(_\d+)?' expects integer token ids.*dtype='int64'"):
        functional.predict(np.full((1, 3), 0.5, np.float32))


@pytest.mark.parametrize("functional", [False, True])
def test_whole_float_ids_through_a_float_input_are_cast_as_keras_does(functional):
    ids = np.random.default_rng(0).integers(0, 10, (16, 3))
    fastnn.set_seed(0)
    layers = [Embedding(10, 2), Flatten(), Dense(1)]
    if functional:
        x = fastnn.Input((3,))
        model = fastnn.Model(x, layers[2](layers[1](layers[0](x))))
    else:
        model = fastnn.Sequential([fastnn.Input((3,))] + layers)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(ids, np.ones(16), epochs=1, verbose=0)
    table = layers[0].get_weights()[0]
    expected = table[ids].reshape(16, -1) @ layers[2].get_weights()[0] + layers[2].get_weights()[1]
    np.testing.assert_allclose(model.predict(ids.astype(np.float32), verbose=0), expected, rtol=1e-5)
    with pytest.raises(TypeError, match=r"whole numbers\), got dtype float32; give the model fastnn.Input"):
        model.predict(np.full((1, 3), np.nan, np.float32))


def test_embedding_model_saves_and_loads(tmp_path):
    model = _model(fastnn.optimizers.Adagrad(0.1))
    _train(model, whole_vector=False, epochs=1)
    path = tmp_path / "emb.fnn"
    model.save(path)
    restored = fastnn.load_model(path)
    ids = np.random.default_rng(2).integers(0, 300, size=(5, 6))
    np.testing.assert_array_equal(restored.predict(ids, verbose=0), model.predict(ids, verbose=0))
    for a, b in zip(_train(model, False, 1), _train(restored, False, 1)):
        np.testing.assert_array_equal(a, b)


def _write(path, text):
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("name", ["vectors.txt", "vectors.txt.gz"])
def test_load_word_vectors(tmp_path, name, capsys):
    path = tmp_path / name
    _write(path, "the 0.1 0.2 0.3\ncat 1 2 3\nbroken 1 2\ndog 4 5 x\n. . . 7 8 9\ncat 9 9 9\nunused 1 2 3\n")
    vocabulary = ["", "[UNK]", "the", "cat", "dog", ". . .", "bird"]
    matrix, counts = fastnn.text.load_word_vectors(path, vocabulary, return_counts=True)
    assert matrix.dtype == np.float32 and matrix.shape == (7, 3)
    np.testing.assert_array_equal(matrix[2:4], np.float32([[0.1, 0.2, 0.3], [1, 2, 3]]))
    np.testing.assert_array_equal(matrix[5], [7, 8, 9])
    np.testing.assert_array_equal(matrix[[0, 1, 4, 6]], 0)
    assert counts == {"found": 3, "missing": 4, "malformed_lines": 2}
    assert "3 of 7 words found" in capsys.readouterr().out
    filled = fastnn.text.load_word_vectors(path, {"bird": 0, "cat": 1}, missing_initializer="ones", verbose=0)
    np.testing.assert_array_equal(filled, [[1, 1, 1], [1, 2, 3]])


def test_load_word_vectors_header_and_dimension_mismatch(tmp_path):
    path = tmp_path / "vectors.vec"
    _write(path, "2 2\nhello 1 2\nworld 3 4\n")
    np.testing.assert_array_equal(fastnn.text.load_word_vectors(path, ["world"], verbose=0), [[3, 4]])
    with pytest.raises(ValueError, match="vectors of size 2 \\(its header\\), expected 3"):
        fastnn.text.load_word_vectors(path, ["world"], dim=3, verbose=0)
    glove = tmp_path / "glove.txt"
    _write(glove, "hello 1 2\n")
    with pytest.raises(ValueError, match="vectors of size 2 \\(line 1\\), expected 5"):
        fastnn.text.load_word_vectors(glove, ["hello"], dim=5, verbose=0)
