"""TextVectorization against numbers from Keras 3.15 (same texts, same calls), in a model fed raw
strings, saved and loaded; pad_sequences against Keras's outputs; the bundled SMS spam data."""
import numpy as np
import pytest

import fastnn
from fastnn.layers import Dense, TextVectorization
from fastnn.utils import pad_sequences

TEXTS = ["The cat sat.", "the DOG, sat!", "a cat a cat", "x"]


def strings(*texts):
    return np.array(texts)


def test_int_mode_matches_keras():
    layer = TextVectorization(output_sequence_length=6)
    layer.adapt(TEXTS)
    # Keras: by frequency, ties the larger string first; '' (padding) and '[UNK]' lead
    assert layer.get_vocabulary() == ["", "[UNK]", "cat", "the", "sat", "a", "x", "dog"]
    assert layer(strings("The cat sat on the mat mat mat")).tolist() == [[3, 2, 4, 1, 3, 1]]  # cut after 6
    assert layer(np.array([["a cat"]])).tolist() == [[5, 2, 0, 0, 0, 0]]  # (batch, 1) as (batch,)
    free = TextVectorization(vocabulary=layer.get_vocabulary(include_special_tokens=False))
    out = free(strings("a", "the cat sat x"))
    assert out.dtype == np.int64 and out.tolist() == [[5, 0, 0, 0], [3, 2, 4, 6]]  # the batch's longest


def test_character_split_max_tokens_and_ngrams_match_keras():
    chars = TextVectorization(split="character", max_tokens=6)
    chars.adapt(TEXTS)
    assert chars.get_vocabulary() == ["", "[UNK]", "t", "a", " ", "c"]
    assert chars(strings("ab c")).tolist() == [[3, 1, 4, 5]]
    bigrams = TextVectorization(output_mode="count", vocabulary=["cat", "sat"], ngrams=(2,))
    assert bigrams.get_vocabulary() == ["[UNK]", "cat", "sat"]
    assert bigrams(strings("cat sat cat sat")).tolist() == [[3, 0, 0]]  # only the bigrams, all unknown
    multi = TextVectorization(output_mode="multi_hot", vocabulary=["cat", "sat"])
    assert multi(strings("cat dog cat")).tolist() == [[1, 1, 0]]


def test_tf_idf_matches_keras():
    layer = TextVectorization(output_mode="tf_idf", ngrams=2)
    layer.adapt(TEXTS)
    assert layer.get_vocabulary() == ["[UNK]", "cat", "the", "sat", "a cat", "a", "x", "the dog", "the cat",
                                      "dog sat", "dog", "cat sat", "cat a"]
    want = np.zeros((1, 13), np.float32)
    want[0, [0, 1, 2, 8]] = [3.1074, 1.6946, 0.8473, 1.0986]  # the OOV column weighs the mean idf
    np.testing.assert_allclose(layer(strings("the cat cat zzz")), want, atol=1e-4)
    again = TextVectorization.from_config(layer.get_config())
    np.testing.assert_array_equal(again(strings("the cat cat zzz", "dog")), layer(strings("the cat cat zzz", "dog")))


def test_a_list_of_strings_is_one_batch_of_data():
    tv = TextVectorization(max_tokens=100)
    tv.adapt(["the cat sat", "the dog ran far away"])
    np.testing.assert_array_equal(tv(["the cat"]), tv(np.array(["the cat"])))
    np.testing.assert_array_equal(tv(["the cat", "a dog ran"]), tv(np.array(["the cat", "a dog ran"])))
    norm = fastnn.layers.Normalization(mean=1.0, variance=4.0)
    np.testing.assert_allclose(norm([[3.0], [1.0]]), [[1.0], [0.0]])


def test_standardize_and_split_options():
    lower = TextVectorization(standardize="lower", split=None, vocabulary=["hi, you!"])
    assert lower(strings("Hi, You!", "hi you")).tolist() == [[2], [1]]
    strip = TextVectorization(standardize="strip_punctuation", vocabulary=["Hi", "you"])
    assert strip(strings("Hi, you! hi")).tolist() == [[2, 3, 1]]
    with pytest.raises(ValueError, match="standardize must be one of"):
        TextVectorization(standardize="lower_and_strip_html")
    with pytest.raises(ValueError, match="output_sequence_length is only for output_mode='int'"):
        TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(ValueError, match="idf_weights go with output_mode='tf_idf'"):
        TextVectorization(output_mode="tf_idf", vocabulary=["a"])


def test_model_on_raw_strings_trains_saves_and_reloads(tmp_path, rng):
    words = np.array(["good", "great", "fine", "bad", "awful", "poor", "the", "movie", "was"])
    texts = [" ".join(words[rng.integers(0, 9, 5)]) for _ in range(200)]
    y = np.array([sum(t.split().count(w) for w in ("good", "great", "fine")) >
                  sum(t.split().count(w) for w in ("bad", "awful", "poor")) for t in texts], np.float32)
    vectorize = TextVectorization(output_mode="count")
    vectorize.adapt(texts)
    inputs = fastnn.Input((1,), dtype="string")
    model = fastnn.Model(inputs, Dense(1, activation="sigmoid")(vectorize(inputs)))
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(texts, y, epochs=30, batch_size=32, verbose=0)  # a list of texts for Input (1,)
    assert model.evaluate(texts, y, verbose=0)[1] >= 0.9
    path = tmp_path / "text.fnn"
    model.save(path)
    loaded = fastnn.load_model(path)
    assert loaded.layers[1].get_vocabulary() == vectorize.get_vocabulary()
    np.testing.assert_array_equal(loaded.predict(texts, verbose=0), model.predict(texts, verbose=0))


def test_width_must_be_known_and_strings_go_only_to_string_models():
    with pytest.raises(ValueError, match="adapt the layer"):
        TextVectorization(output_mode="multi_hot")(fastnn.Input((1,), dtype="string"))
    fixed = TextVectorization(output_mode="multi_hot", vocabulary=["a"])
    fixed(fastnn.Input((1,), dtype="string"))
    with pytest.raises(ValueError, match="changes the output width"):
        fixed.adapt(["a b"])
    assert fixed.get_vocabulary() == ["[UNK]", "a"]
    with pytest.raises(TypeError, match="dtype='string'"):
        TextVectorization()(fastnn.Input((1,)))
    numeric = fastnn.Sequential([fastnn.Input((1,)), Dense(1)])
    with pytest.raises(TypeError, match="strings go to a model whose Input has dtype='string'"):
        numeric.predict(np.array([["hello"]]), verbose=0)


def test_pad_sequences_matches_keras():
    assert pad_sequences([[1, 2], [3, 4, 5, 6]], maxlen=3).tolist() == [[0, 1, 2], [4, 5, 6]]
    post = pad_sequences([[1, 2], [], [3, 4, 5]], padding="post", truncating="post", maxlen=2, value=-1)
    assert post.dtype == np.int32 and post.tolist() == [[1, 2], [-1, -1], [3, 4]]
    assert pad_sequences([[1.5, 2]], dtype="float32").tolist() == [[1.5, 2.0]]
    assert pad_sequences([[[1, 2]], [[3, 4], [5, 6]]]).tolist() == [[[0, 0], [1, 2]], [[3, 4], [5, 6]]]
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match=r"sequences\[1\] is not a sequence"):
        pad_sequences([[1], 2])


def test_load_sms_spam_is_stratified_and_deterministic():
    (x_train, y_train), (x_test, y_test) = fastnn.datasets.load_sms_spam()
    assert (len(x_train), len(x_test)) == (4459, 1115) and isinstance(x_train[0], str)
    assert y_train.dtype == np.int64 and int(y_train.sum()) + int(y_test.sum()) == 747
    assert abs(y_train.mean() - y_test.mean()) < 0.002
    assert fastnn.datasets.load_sms_spam()[1][0] == x_test
    assert fastnn.datasets.load_sms_spam(seed=1)[1][0] != x_test


def test_lowercasing_changes_ascii_letters_only_as_keras():
    # Keras 3 (tf.strings.lower) maps these to [1, 3, 4, 3, 1]: 'ÀÉÎ' and 'ǅ' stay uppercase, 'ß' stays
    layer = TextVectorization(standardize="lower", split=None, vocabulary=["àéî", "straße", "strasse", "ǆ"])
    assert np.asarray(layer(np.array(["ÀÉÎ", "straße", "STRASSE", "STRAßE", "ǅ"]))).ravel().tolist() == [1, 3, 4, 3, 1]


def test_a_plain_string_is_one_scalar_input_as_keras():
    layer = TextVectorization(max_tokens=100)
    layer.adapt(["the cat sat", "the dog ran far away"])
    assert np.asarray(layer("the cat")).tolist() == [2, 7]  # Keras 3's output, without a batch axis
    assert np.asarray(layer(["the cat"])).tolist() == [[2, 7]]
    multi_hot = TextVectorization(max_tokens=100, output_mode="multi_hot")
    multi_hot.adapt(["the cat sat", "the dog ran far away"])
    assert np.asarray(multi_hot("the cat")).tolist() == [0, 1, 0, 0, 0, 0, 1, 0]
