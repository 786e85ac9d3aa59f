"""Transcript preprocessing: non-speech tokens removed, [CLS]/[SEP], padding mask, tf.data."""

import numpy as np
import pytest
import tensorflow as tf

from ser_keras.text import load_text_preprocessor, remove_non_speech_tokens

CLS, SEP, PAD = 101, 102, 0


@pytest.fixture(scope="module")
def preprocessor():
    return load_text_preprocessor(sequence_length=12)


def test_remove_non_speech_tokens():
    cleaned = remove_non_speech_tokens(["[LAUGHTER] Oh, that's [BREATHING]great.", "no tags"])
    assert [text.decode() for text in cleaned.numpy()] == ["  Oh, that's  great.", "no tags"]


def test_bracketed_tokens_are_removed_before_tokenization(preprocessor):
    tagged = preprocessor(["Oh [LAUGHTER] that's great [BREATHING]"])
    clean = preprocessor(["Oh that's great"])
    for key in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(tagged[key].numpy(), clean[key].numpy())
    # The bracket tokens themselves would have been word pieces "[", "laughter", "]".
    vocabulary = preprocessor.tokenizer.get_vocabulary()
    assert "laughter" not in [vocabulary[i] for i in tagged["token_ids"].numpy()[0]]


def test_packing_padding_mask_and_truncation(preprocessor):
    outputs = preprocessor(["hello world", "one two three four five six seven eight nine ten eleven twelve"])
    token_ids = outputs["token_ids"].numpy()
    padding_mask = outputs["padding_mask"].numpy()
    assert token_ids.shape == padding_mask.shape == (2, 12)
    assert padding_mask.dtype == bool and token_ids.dtype == np.int32
    # hello world -> [CLS] hello world [SEP] + 8 padding tokens.
    assert token_ids[0, 0] == CLS and token_ids[0, 3] == SEP
    np.testing.assert_array_equal(padding_mask[0], np.arange(12) < 4)
    np.testing.assert_array_equal(padding_mask, token_ids != PAD)
    # The long one is truncated to 12 and still ends with [SEP].
    assert padding_mask[1].all() and token_ids[1, -1] == SEP


def test_sequence_length_is_configurable_and_checked():
    assert load_text_preprocessor(sequence_length=5)(["a b c d e f"])["token_ids"].shape == (1, 5)
    with pytest.raises(ValueError, match="sequence_length"):
        load_text_preprocessor(sequence_length=1)


def test_maps_a_labelled_tf_data_pipeline(preprocessor):
    dataset = tf.data.Dataset.from_tensor_slices((["[LAUGHTER] hi", "bye now"], [2, 0])).batch(2)
    inputs, labels = next(iter(dataset.map(preprocessor)))
    np.testing.assert_array_equal(labels.numpy(), [2, 0])
    np.testing.assert_array_equal(inputs["padding_mask"].numpy().sum(axis=1), [3, 4])
    np.testing.assert_array_equal(inputs["token_ids"].numpy(), preprocessor(["hi", "bye now"])["token_ids"].numpy())


def test_count_truncated_counts_transcripts_longer_than_the_packed_length():
    from ser_keras.text.tokenizer import count_truncated

    short = load_text_preprocessor(sequence_length=8)  # 6 word pieces + [CLS] + [SEP]
    texts = ["one two three four five six seven", "hi", "one two three four five six", "[LAUGHTER] a b"]
    assert count_truncated(short, texts) == 1
    assert count_truncated(load_text_preprocessor(sequence_length=64), texts) == 0
    assert count_truncated(short, []) == 0
    packed = short(texts)["padding_mask"].numpy()
    assert packed[0].all() and packed[2].all()  # both fill the length; only the first lost a piece
