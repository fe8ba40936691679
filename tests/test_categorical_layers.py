"""StringLookup, IntegerLookup, CategoryEncoding and Hashing: Keras 3's index layout (mask, OOV,
vocabulary) and outputs, checked against the numbers Keras 3.15.1 gives for the same calls; the
stable hash; string models that train, predict, save and load."""
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn.layers import (CategoryEncoding, Dense, Discretization, Hashing, Input, IntegerLookup, StringLookup,
                           TextVectorization)
from fastnn.layers.preprocessing.encoding import fnv1a64


def strings(*rows):
    return np.array([[v] for v in rows])


# ---- StringLookup -------------------------------------------------------------------------------

def test_string_lookup_indices_match_keras():
    plain = StringLookup(vocabulary=["a", "b", "c"])
    assert plain.get_vocabulary() == ["[UNK]", "a", "b", "c"] and plain.vocabulary_size() == 4
    out = plain(strings("a", "c", "z", ""))
    assert out.dtype == np.int64 and out.ravel().tolist() == [1, 3, 0, 0]
    masked = StringLookup(vocabulary=["a", "b", "c"], mask_token="")
    assert masked.get_vocabulary() == ["", "[UNK]", "a", "b", "c"]
    assert masked(strings("a", "c", "z", "")).ravel().tolist() == [2, 4, 1, 0]
    two_oov = StringLookup(vocabulary=["a", "b", "c"], num_oov_indices=2)
    assert two_oov.get_vocabulary() == ["[UNK]", "[UNK]", "a", "b", "c"]
    assert two_oov(strings("a"))[0, 0] == 2
    no_oov = StringLookup(vocabulary=["a", "b", "c"], num_oov_indices=0)
    assert no_oov(strings("a", "c")).ravel().tolist() == [0, 2]
    with pytest.raises(ValueError, match="'z' is not"):
        no_oov(strings("z"))
    renamed = StringLookup(vocabulary=["a", "b"], oov_token="OOV")
    assert renamed.get_vocabulary() == ["OOV", "a", "b"]


def test_string_lookup_oov_buckets_use_fnv1a():
    layer = StringLookup(vocabulary=["a", "b", "c"], num_oov_indices=3, mask_token="")
    tokens = np.array(["zz", "yy", "xx", "ww", "vv"])
    expected = 1 + (fnv1a64(tokens) % np.uint64(3)).astype(np.int64)
    assert layer(tokens).tolist() == expected.tolist()


KERAS_ENCODED = {  # StringLookup(vocabulary=["a", "b", "c"], output_mode=mode[, mask_token=""]) in Keras 3.15.1
    ("one_hot", None): [[0, 1, 0, 0], [1, 0, 0, 0]],
    ("one_hot", ""): [[0, 1, 0, 0], [0, 0, 0, 0]],
    ("multi_hot", None): [[1, 1, 0, 0], [0, 0, 1, 1]],
    ("multi_hot", ""): [[1, 1, 0, 0], [0, 0, 1, 1]],
    ("count", None): [[1, 2, 0, 0], [0, 0, 1, 2]],
    ("count", ""): [[1, 1, 0, 0], [0, 0, 1, 2]],
}


@pytest.mark.parametrize("mode,mask", list(KERAS_ENCODED))
def test_string_lookup_encodings_match_keras(mode, mask):
    layer = StringLookup(vocabulary=["a", "b", "c"], output_mode=mode, mask_token=mask)
    if mode == "one_hot":
        x = strings("a", "z" if mask is None else "")
    else:
        x = np.array([["a", "a", "z"], ["b", "c", "c"]]) if mask is None else np.array([["a", "", "z"], ["b", "c", "c"]])
    out = layer(x)
    assert out.dtype == np.float32 and out.tolist() == KERAS_ENCODED[(mode, mask)]


def test_string_lookup_padding_and_several_oov_columns_match_keras():
    pad = StringLookup(vocabulary=["a", "b", "c"], output_mode="multi_hot", max_tokens=6, pad_to_max_tokens=True)
    assert pad(np.array([["a", "z"]])).tolist() == [[1, 1, 0, 0, 0, 0]]
    pad_mask = StringLookup(vocabulary=["a", "b", "c"], output_mode="multi_hot", max_tokens=7,
                            pad_to_max_tokens=True, mask_token="")
    assert pad_mask(np.array([["a", "z", ""]])).tolist() == [[1, 1, 0, 0, 0, 0, 0]]
    counted = StringLookup(vocabulary=["a", "b", "c"], output_mode="count", num_oov_indices=2, mask_token="")
    row = counted(np.array([["a", "q", "", "a"]]))[0]
    assert row.shape == (5,) and row[2] == 2 and row[:2].sum() == 1 and row[3:].sum() == 0


def test_string_lookup_adapt_orders_like_keras():
    data = strings("b", "a", "b", "c", "c", "c", "d", "a")
    cases = [(StringLookup(), data, ["[UNK]", "c", "b", "a", "d"]),
             (StringLookup(max_tokens=3), data, ["[UNK]", "c", "b"]),
             (StringLookup(max_tokens=4, mask_token=""), np.concatenate([data, strings("")]), ["", "[UNK]", "c", "b"]),
             (StringLookup(), np.array(["z", "y", "x", "y", "z", "x", "w"]), ["[UNK]", "z", "y", "x", "w"]),
             (StringLookup(mask_token="[MASK]"), strings("a", "[MASK]", "b", "a"), ["[MASK]", "[UNK]", "a", "b"]),
             (StringLookup(), strings("a", "[UNK]", "b", "a"), ["[UNK]", "a", "b"])]
    for layer, x, expected in cases:
        layer.adapt(x)
        assert layer.get_vocabulary() == expected


def test_lookup_adapt_streams_batches(rng):
    tokens = np.array([f"t{v}" for v in rng.zipf(1.5, 5000) % 400])
    whole, streamed = StringLookup(), StringLookup()
    whole.adapt(tokens)
    streamed.adapt(iter(np.array_split(tokens, 13)))
    assert whole.get_vocabulary() == streamed.get_vocabulary()
    values, counts = np.unique(tokens, return_counts=True)
    order = np.lexsort((values, counts))[::-1]
    assert whole.get_vocabulary()[1:] == values[order].tolist()


def test_string_lookup_invert_matches_keras():
    layer = StringLookup(vocabulary=["a", "b", "c"], invert=True)
    assert layer(np.array([[0], [1], [3], [7]])).ravel().tolist() == ["[UNK]", "a", "c", "[UNK]"]
    masked = StringLookup(vocabulary=["a", "b", "c"], invert=True, mask_token="")
    assert masked(np.array([[0], [1], [4], [7]])).ravel().tolist() == ["", "[UNK]", "c", "[UNK]"]


def test_string_lookup_vocabulary_checks():
    assert StringLookup(vocabulary=["[UNK]", "a"]).get_vocabulary() == ["[UNK]", "a"]
    assert StringLookup(vocabulary=["", "[UNK]", "a"], mask_token="").get_vocabulary() == ["", "[UNK]", "a"]
    with pytest.raises(ValueError, match="repeats"):
        StringLookup(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="mask token"):
        StringLookup(vocabulary=["", "a"], mask_token="")
    with pytest.raises(ValueError, match="OOV token"):
        StringLookup(vocabulary=["a", "[UNK]"])
    with pytest.raises(ValueError, match="exceeds max_tokens"):
        StringLookup(vocabulary=["a", "b", "c"], max_tokens=3)
    with pytest.raises(ValueError, match="no vocabulary"):
        StringLookup()(strings("a"))
    with pytest.raises(ValueError, match="tf_idf"):
        StringLookup(output_mode="tf_idf")
    with pytest.raises(TypeError, match="expected strings"):
        StringLookup(vocabulary=["a"])(np.array([[1.5]]))
    with pytest.raises(TypeError, match="dtype='string'"):
        StringLookup(vocabulary=["a"])(Input((1,)))


# ---- IntegerLookup ------------------------------------------------------------------------------

def test_integer_lookup_matches_keras():
    layer = IntegerLookup(vocabulary=[12, 36, 1138, 42])
    assert layer.get_vocabulary() == [-1, 12, 36, 1138, 42]
    assert layer(np.array([[12], [1138], [13], [-1], [0]])).ravel().tolist() == [1, 3, 0, 0, 0]
    masked = IntegerLookup(vocabulary=[12, 36, 1138, 42], mask_token=0)
    assert masked.get_vocabulary() == [0, -1, 12, 36, 1138, 42]
    assert masked(np.array([[12], [1138], [13], [-1], [0]])).ravel().tolist() == [2, 4, 1, 1, 0]
    floormod = IntegerLookup(vocabulary=[12, 36, 1138, 42], num_oov_indices=3)
    assert floormod(np.array([12, 13, 14, 15, 16, -5])).tolist() == [3, 1, 2, 0, 1, 1]
    adapted = IntegerLookup()
    adapted.adapt(np.array([[12, 1138, 42], [42, 1000, 36], [36, 1138, 42]]))
    assert adapted.get_vocabulary() == [-1, 42, 1138, 36, 1000, 12]
    adapted_masked = IntegerLookup(mask_token=0)
    adapted_masked.adapt(np.array([[12, 0, 42], [42, 0, 36]]))
    assert adapted_masked.get_vocabulary() == [0, -1, 42, 36, 12]
    one_hot = IntegerLookup(vocabulary=[5, 6], mask_token=0, output_mode="one_hot")
    assert one_hot(np.array([[5], [0], [9]])).tolist() == [[0, 1, 0], [0, 0, 0], [1, 0, 0]]
    inverse = IntegerLookup(vocabulary=[12, 36], invert=True)
    out = inverse(np.array([[0], [2], [5]]))
    assert out.dtype == np.int64 and out.ravel().tolist() == [-1, 36, -1]
    decode = fastnn.Sequential([StringLookup(vocabulary=["a", "b"], invert=True, input_shape=(2,))])
    assert decode.inputs[0].dtype == "int64"
    assert decode.predict(np.array([[1, 2], [0, 9]]), verbose=0).tolist() == [["a", "b"], ["[UNK]", "[UNK]"]]
    with pytest.raises(TypeError, match="integers"):
        layer(np.array([[1.5]]))


# ---- CategoryEncoding and Hashing ---------------------------------------------------------------

@pytest.mark.parametrize("mode,single,pairs", [
    ("one_hot", [[1, 0, 0, 0], [0, 0, 0, 1]], [[[1, 0, 0, 0], [0, 1, 0, 0]], [[0, 0, 0, 1], [0, 0, 0, 1]]]),
    ("multi_hot", [[1, 0, 0, 0], [0, 0, 0, 1]], [[1, 1, 0, 0], [0, 0, 0, 1]]),
    ("count", [[1, 0, 0, 0], [0, 0, 0, 1]], [[1, 1, 0, 0], [0, 0, 0, 2]]),
])
def test_category_encoding_matches_keras(mode, single, pairs):
    layer = CategoryEncoding(num_tokens=4, output_mode=mode)
    assert layer(np.array([[0], [3]])).tolist() == single
    assert layer(np.array([[0, 1], [3, 3]])).tolist() == pairs
    assert CategoryEncoding.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match=r"must be in \[0, 4\), got 5"):
        layer(np.array([[5]]))


def test_fnv1a_published_values_and_hashing_bins():
    assert [int(h) for h in fnv1a64(np.array(["", "a", "foobar"]))] == \
        [0xCBF29CE484222325, 0xAF63DC4C8601EC8C, 0x85944171F73967E8]
    tokens = np.array([["A"], ["B"], ["C"], ["D"], ["E"], ["é"], ["日本"]])
    out = Hashing(num_bins=3)(tokens)
    assert out.dtype == np.int64 and np.array_equal(out, (fnv1a64(tokens) % np.uint64(3)).astype(np.int64))
    masked = Hashing(num_bins=3, mask_value="")(np.array(["A", "", "B", "C"]))
    assert masked[1] == 0 and set(masked[[0, 2, 3]].tolist()) <= {1, 2}
    numbers = Hashing(num_bins=7)
    assert np.array_equal(numbers(np.array([[12], [-13]])), numbers(np.array([["12"], ["-13"]])))
    salted = Hashing(num_bins=1 << 20, salt=42)(np.array(["a", "b"]))
    assert not np.array_equal(salted, Hashing(num_bins=1 << 20)(np.array(["a", "b"])))
    assert Hashing(num_bins=4, output_mode="multi_hot")(np.array([["A", "B"]])).sum() >= 1


def test_hashing_is_stable_across_processes():
    """Never Python's hash(): another interpreter with another hash seed gives the same bins."""
    code = ("import numpy as np; from fastnn.layers import Hashing; "
            "print(Hashing(num_bins=1000003)(np.array(['alpha', 'beta', 'gamma'])).tolist())")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")]
    assert runs[0] == runs[1] and runs[0].strip() == str(Hashing(num_bins=1000003)(
        np.array(["alpha", "beta", "gamma"])).tolist())


# ---- in models ----------------------------------------------------------------------------------

def test_string_features_model_trains_predicts_and_reloads_bitwise(tmp_path, rng):
    colours = np.array(["red", "green", "blue", "cyan"])
    x = colours[rng.integers(0, 4, 400)].reshape(-1, 1)
    y = np.isin(x[:, 0], ["red", "cyan"]).astype(np.float32)
    lookup = StringLookup()
    lookup.adapt(x)
    lookup_config = StringLookup(vocabulary=lookup.get_vocabulary(include_special_tokens=False),
                                 output_mode="one_hot")
    inputs = Input((1,), dtype="string")
    model = fastnn.Model(inputs, Dense(1, activation="sigmoid")(lookup_config(inputs)))
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] == 1.0
    assert model.predict(np.array([["purple"]], dtype=object), verbose=0).shape == (1, 1)  # OOV, object array
    path = tmp_path / "colours.fnn"
    model.save(path)
    loaded = fastnn.load_model(path)
    assert np.array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert loaded.layers[1].get_vocabulary() == lookup_config.get_vocabulary()


def test_lookup_models_output_int64_and_sequential_takes_strings():
    seq = fastnn.Sequential([StringLookup(vocabulary=["a", "b"], input_shape=(1,))])
    assert seq.inputs[0].dtype == "string"
    out = seq.predict(np.array([["a"], ["b"], ["q"]]), verbose=0)
    assert out.dtype == np.int64 and out.ravel().tolist() == [1, 2, 0]
    inputs = Input((2,), dtype="int64")
    ids = IntegerLookup(vocabulary=[7, 8, 9], mask_token=0)(inputs)
    model = fastnn.Model(inputs, [ids, CategoryEncoding(5, output_mode="count")(ids)])
    ids_out, counts = model.predict(np.array([[7, 0], [9, 9]]), verbose=0)
    assert ids_out.tolist() == [[2, 0], [4, 4]] and counts.tolist() == [[1, 0, 1, 0, 0], [0, 0, 0, 0, 2]]


def test_lookup_width_must_be_known_before_the_model_is_built():
    with pytest.raises(ValueError, match="adapt the layer"):
        StringLookup(output_mode="multi_hot")(Input((3,), dtype="string"))
    padded = StringLookup(output_mode="multi_hot", max_tokens=10, pad_to_max_tokens=True)
    padded(Input((3,), dtype="string"))
    padded.adapt(np.array([["a", "b", "c"]]))  # the width stays max_tokens
    fixed = StringLookup(vocabulary=["a"], output_mode="one_hot")
    fixed(Input((1,), dtype="string"))
    with pytest.raises(ValueError, match="changes the output width"):
        fixed.adapt(strings("a", "b"))
    assert fixed.get_vocabulary() == ["[UNK]", "a"]  # the refused vocabulary left the layer as it was


def test_every_kind_of_preprocessing_in_one_saved_model(tmp_path, rng):
    """A functional model with numeric, string and integer inputs, each through adapted preprocessing,
    saved and loaded: configs, weights and predictions come back bitwise."""
    from fastnn.layers import Concatenate, Discretization, Imputation, Normalization

    n = 120
    numbers = rng.standard_normal((n, 3)).astype(np.float32)
    numbers[rng.random(numbers.shape) < 0.1] = np.nan
    words = np.array(["ant", "bee", "cat", "dog", "eel"])[rng.integers(0, 5, (n, 2))]
    ids = rng.integers(0, 6, (n, 1))
    imputer, norm, bins = Imputation("median"), Normalization(), Discretization(num_bins=4, output_mode="multi_hot")
    imputer.adapt(numbers)
    norm.adapt(imputer(numbers))
    bins.adapt(imputer(numbers))
    words_lookup, id_lookup = StringLookup(output_mode="multi_hot"), IntegerLookup(num_oov_indices=2)
    words_lookup.adapt(words)
    id_lookup.adapt(ids[:60])
    number_in, word_in, id_in = Input((3,), name="numbers"), Input((2,), dtype="string", name="words"), \
        Input((1,), dtype="int64", name="ids")
    filled = imputer(number_in)
    features = Concatenate()([norm(filled), bins(filled), words_lookup(word_in), Hashing(8, output_mode="count", salt=3)(word_in),
                              CategoryEncoding(id_lookup.vocabulary_size(), output_mode="one_hot")(id_lookup(id_in))])
    model = fastnn.Model({"numbers": number_in, "words": word_in, "ids": id_in}, Dense(1)(features))
    model.compile(optimizer="adam", loss="mse")
    data = {"numbers": numbers, "words": words, "ids": ids}
    model.fit(data, rng.standard_normal(n), epochs=2, verbose=0)
    path = tmp_path / "everything.fnn"
    model.save(path)
    loaded = fastnn.load_model(path)
    assert loaded.get_config() == model.get_config()
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), loaded.get_weights()))
    assert np.array_equal(model.predict(data, verbose=0), loaded.predict(data, verbose=0))


@pytest.mark.parametrize("make, data", [
    (lambda: StringLookup(), np.array(["a", "b", "c"])),
    (lambda: StringLookup(output_mode="multi_hot"), np.array(["a", "b", "c"])),
    (lambda: IntegerLookup(), np.array([3, 4, 5])),
    (lambda: Hashing(num_bins=4), np.array(["x", "y", "z"])),
    (lambda: Discretization(num_bins=3), np.array([0.1, 0.5, 0.9, 0.3])),
    (lambda: TextVectorization(output_sequence_length=4), np.array(["a b", "b c d", "d"])),
])
def test_shape_free_layers_called_on_a_column_after_a_flat_batch(make, data):
    """keras.io's text recipe: adapt on a flat batch, run the layer on it, then reuse it on
    Input(shape=(1,)) in a model (and adapt it again on a column): Keras allows it, the result per
    string is the same."""
    layer = make()
    adapts = not isinstance(layer, Hashing)
    if adapts:
        layer.adapt(data)
    flat = np.asarray(layer(data))
    dtype = "string" if data.dtype.kind == "U" else str(data.dtype)
    inputs = fastnn.Input(shape=(1,), dtype=dtype)
    model = fastnn.Model(inputs, layer(inputs))
    column = data.reshape(-1, 1).astype(object if data.dtype.kind == "U" else data.dtype)
    np.testing.assert_array_equal(model.predict(column, verbose=0).reshape(flat.shape), flat)
    if adapts:
        layer.adapt(column)
        np.testing.assert_array_equal(np.asarray(layer(data)), flat)
