"""tf.data pipeline: patches, tokens, masks, length buckets, seeded order, skipped clips."""

import numpy as np
import pytest
import soundfile
import tensorflow as tf
from keras_hub.models import BertTextClassifierPreprocessor, BertTokenizer

from ser_keras.audio import load_audio, waveform_to_examples
from ser_keras.data import DatasetError, SkipReport, Utterance, make_dataset

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", "so", "fast"]
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
LABELS = ("angry", "happy", "sad", "neutral")


@pytest.fixture(scope="module")
def preprocessor():
    return BertTextClassifierPreprocessor(BertTokenizer(vocabulary=VOCABULARY), sequence_length=16)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Audio files of 1, 2 and 3 VGGish patches (WAV 16 kHz, FLAC 16 kHz, WAV 22.05 kHz)."""
    directory = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    specs = {1: ("one.wav", 16000, 0.5), 2: ("two.flac", 16000, 2.0), 3: ("three.wav", 22050, 3.5)}
    paths = {}
    for patches, (name, rate, seconds) in specs.items():
        paths[patches] = str(directory / name)
        soundfile.write(paths[patches], 0.1 * rng.standard_normal(int(rate * seconds)), rate)
    return paths


def utterance(name, text, label, path=None):
    return Utterance(name, text, label, audio_path=path)


def batches(dataset):
    return [
        ({key: value.numpy() for key, value in inputs.items()}, labels.numpy())
        for inputs, labels in dataset
    ]


def test_raw_batch_holds_patches_tokens_masks_and_labels(clips, preprocessor):
    items = [
        utterance("u1", "the cat", "sad", clips[1]),
        utterance("u2", "a dog ran so fast", "angry", clips[2]),
        utterance("u3", "mat", "neutral", clips[3]),
    ]
    ((inputs, labels),) = batches(
        make_dataset(items, LABELS, preprocessor=preprocessor, batch_size=3, bucket_boundaries=None)
    )
    assert sorted(inputs) == [
        "audio_mask",
        "audio_patches",
        "padding_mask",
        "segment_ids",
        "token_ids",
    ]
    assert labels.tolist() == [2, 0, 3] and labels.dtype == np.int32
    assert inputs["audio_patches"].shape == (3, 3, 96, 64)
    assert inputs["audio_mask"].tolist() == [
        [True, False, False],
        [True, True, False],
        [True, True, True],
    ]
    expected = waveform_to_examples(load_audio(clips[2])).numpy()
    np.testing.assert_allclose(inputs["audio_patches"][1, :2], expected, rtol=1e-5, atol=1e-5)
    assert not inputs["audio_patches"][1, 2].any()  # padding is zero
    # Tokens are cut to the longest text of the batch: [CLS] + 5 words + [SEP].
    assert inputs["token_ids"].shape == (3, 7) and inputs["token_ids"].dtype == np.int32
    reference = preprocessor(tf.constant("a dog ran so fast"))
    np.testing.assert_array_equal(inputs["token_ids"][1], reference["token_ids"].numpy()[:7])
    assert inputs["token_ids"][0].tolist() == [2, 5, 6, 3, 0, 0, 0]
    assert inputs["padding_mask"].sum(axis=1).tolist() == [4, 7, 3]
    assert inputs["padding_mask"].dtype == bool and not inputs["segment_ids"].any()


def test_length_buckets_keep_short_clips_unpadded(clips, preprocessor):
    lengths = [1, 3, 2, 1, 3, 2]
    items = [utterance(f"u{i}", "cat", "happy", clips[n]) for i, n in enumerate(lengths)]
    bucketed = batches(
        make_dataset(
            items, LABELS, preprocessor=preprocessor, batch_size=2, bucket_boundaries=(2, 3)
        )
    )
    assert sorted(inputs["audio_mask"].shape for inputs, _ in bucketed) == [(2, 1), (2, 2), (2, 3)]
    assert all(inputs["audio_mask"].all() for inputs, _ in bucketed)
    unbucketed = batches(
        make_dataset(items, LABELS, preprocessor=preprocessor, batch_size=2, bucket_boundaries=None)
    )
    assert [inputs["audio_mask"].sum(axis=1).tolist() for inputs, _ in unbucketed] == [
        [1, 3],
        [2, 1],
        [3, 2],
    ]


def first_words(dataset):
    """The id of the first word of every utterance, in the order served."""
    return [int(token) for inputs, _ in dataset for token in inputs["token_ids"][:, 1].numpy()]


def test_shuffled_order_is_deterministic_under_a_seed(clips, preprocessor):
    items = [
        utterance(f"u{i}", word, LABELS[i % 4], clips[1 + i % 3]) for i, word in enumerate(WORDS)
    ]

    def build(seed):
        return make_dataset(
            items, LABELS, preprocessor=preprocessor, batch_size=4, shuffle=True, seed=seed
        )

    dataset = build(0)
    epoch_1, epoch_2 = first_words(dataset), first_words(dataset)
    assert sorted(epoch_1) == list(range(5, 17))  # every utterance once
    assert epoch_1 != epoch_2  # reshuffled every epoch
    rebuilt = build(0)
    assert [first_words(rebuilt), first_words(rebuilt)] == [epoch_1, epoch_2]
    assert first_words(build(1)) != epoch_1


def test_unreadable_clips_are_skipped_and_reported(clips, preprocessor, tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + bytes(range(200)))
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros((0, 1)), 16000)
    items = [
        utterance("good1", "cat", "sad", clips[1]),
        utterance("corrupt", "cat", "sad", str(corrupt)),
        utterance("empty", "cat", "sad", str(empty)),
        utterance("missing", "cat", "sad", str(tmp_path / "missing.flac")),
        utterance("good2", "dog", "happy", clips[2]),
    ]
    report = SkipReport()
    served = batches(
        make_dataset(items, LABELS, preprocessor=preprocessor, batch_size=8, skip_report=report)
    )
    assert sorted(label for _, labels in served for label in labels) == [1, 2]
    assert sorted(item.item_id for item in report) == ["corrupt", "empty", "missing"]
    assert {item.reason for item in report} == {"unreadable audio"}
    assert "no audio samples" in {item.item_id: item.detail for item in report}["empty"]
    assert report.summary(total=len(items)) == "Skipped 3 of 5 items: 3 unreadable audio."


def test_text_only_and_audio_only_items(clips, preprocessor):
    items = [
        utterance("text_only", "the cat sat", "sad"),
        utterance("audio_only", "", "angry", clips[2]),
    ]
    ((inputs, labels),) = batches(
        make_dataset(items, LABELS, preprocessor=preprocessor, bucket_boundaries=None)
    )
    assert labels.tolist() == [2, 0]
    assert inputs["audio_mask"].tolist() == [[False, False], [True, True]]
    assert not inputs["audio_patches"][0].any()
    assert inputs["padding_mask"].tolist() == [[True] * 5, [True, True, False, False, False]]
    assert inputs["token_ids"][1, :2].tolist() == [2, 3]  # [CLS] [SEP]


def test_text_only_corpus_buckets_by_tokens(preprocessor):
    items = [utterance(f"u{i}", " ".join(WORDS[: 1 + i % 3]), "happy") for i in range(6)]
    served = batches(
        make_dataset(
            items, LABELS, preprocessor=preprocessor, batch_size=2, bucket_boundaries=(4, 5)
        )
    )
    assert sorted(inputs["padding_mask"].sum(axis=1).tolist() for inputs, _ in served) == [
        [3, 3],
        [4, 4],
        [5, 5],
    ]


def test_cached_inputs_are_padded_with_masks():
    rng = np.random.default_rng(1)
    text_features = {
        "a": rng.normal(size=(4, 8)),
        "b": rng.normal(size=(2, 8)),
        "c": rng.normal(size=(3, 8)),
    }
    audio_embeddings = {"a": rng.normal(size=(1, 128)), "b": rng.normal(size=(3, 128))}
    items = [
        utterance("a", "x", "sad", "a.wav"),
        utterance("b", "y", "happy", "b.wav"),
        utterance("c", "z", "neutral"),  # text-only: needs no audio embedding
        utterance(
            "d", "w", "angry", "d.wav"
        ),  # not in the audio cache (skipped while building): left out
    ]
    ((inputs, labels),) = batches(
        make_dataset(
            items,
            LABELS,
            text_features=text_features,
            audio_embeddings=audio_embeddings,
            bucket_boundaries=None,
        )
    )
    assert sorted(inputs) == ["audio_embeddings", "audio_mask", "padding_mask", "text_features"]
    assert labels.tolist() == [2, 1, 3]
    assert inputs["text_features"].shape == (3, 4, 8) and inputs["audio_embeddings"].shape == (
        3,
        3,
        128,
    )
    np.testing.assert_allclose(inputs["text_features"][1, :2], text_features["b"], rtol=1e-6)
    assert not inputs["text_features"][1, 2:].any()
    np.testing.assert_allclose(inputs["audio_embeddings"][0, :1], audio_embeddings["a"], rtol=1e-6)
    assert inputs["padding_mask"].sum(axis=1).tolist() == [4, 2, 3]
    assert inputs["audio_mask"].tolist() == [
        [True, False, False],
        [True, True, True],
        [False, False, False],
    ]
    assert not inputs["audio_embeddings"][2].any()


def test_mixed_cached_audio_and_raw_tokens(preprocessor):
    items = [utterance("a", "the cat", "sad", "a.wav")]
    ((inputs, _),) = batches(
        make_dataset(
            items, LABELS, preprocessor=preprocessor, audio_embeddings={"a": np.ones((2, 128))}
        )
    )
    assert sorted(inputs) == [
        "audio_embeddings",
        "audio_mask",
        "padding_mask",
        "segment_ids",
        "token_ids",
    ]
    assert inputs["token_ids"].tolist() == [[2, 5, 6, 3]]


def test_bad_arguments(preprocessor):
    with pytest.raises(ValueError, match="Pass `preprocessor`"):
        make_dataset([utterance("a", "x", "sad")], LABELS)
    with pytest.raises(DatasetError, match=r"Labels \['bored'\] are not in the label set"):
        make_dataset([utterance("a", "x", "bored")], LABELS, preprocessor=preprocessor)


def test_epoch_seeded_order_depends_on_the_epoch_variable_alone(clips, preprocessor):
    import tensorflow as tf

    items = [
        utterance(f"u{i}", word, LABELS[i % 4], clips[1 + i % 3]) for i, word in enumerate(WORDS)
    ]
    epoch = tf.Variable(0, dtype=tf.int64)

    def build():
        return make_dataset(
            items, LABELS, preprocessor=preprocessor, batch_size=4, shuffle=True, seed=3, epoch=epoch
        )

    dataset = build()
    first = first_words(dataset)
    epoch.assign(1)
    second = first_words(dataset)
    assert sorted(first) == sorted(second) == list(range(5, 17))
    assert first != second
    epoch.assign(0)
    assert first_words(dataset) == first  # epoch 0 again, as after a restart
    fresh = build()
    epoch.assign(1)
    assert first_words(fresh) == second  # a new pipeline at epoch 1 repeats epoch 1


@pytest.mark.parametrize("modality", ["multimodal", "text"])
def test_datasets_declare_their_exact_number_of_bucketed_batches(modality, preprocessor):
    rng = np.random.default_rng(4)
    items, text_features, audio_embeddings = [], {}, {}
    for index in range(60):
        name = f"u{index}"
        has_audio = modality == "multimodal" and index % 7 != 0  # some text-only rows (audio length 0)
        text = " ".join(["the", "cat"] * int(rng.integers(1, 7)))  # 4 to 14 tokens: several buckets
        items.append(utterance(name, text, LABELS[index % 4], f"{name}.wav" if has_audio else None))
        text_features[name] = rng.normal(size=(int(rng.integers(1, 30)), 8))
        if has_audio:
            audio_embeddings[name] = rng.normal(size=(int(rng.integers(1, 14)), 128))
    for cache in ({"text_features": text_features}, {"preprocessor": preprocessor}):
        dataset = make_dataset(items, LABELS, batch_size=4, shuffle=True,
                               audio_embeddings=audio_embeddings if modality == "multimodal" else None, **cache)
        # Text only, the token counts come from the tokenizer's padding masks (a progress bar with its total).
        assert int(dataset.cardinality()) == len(list(dataset)) > 60 // 4  # partial batches per bucket


def test_teacher_logits_follow_their_utterances_through_shuffled_buckets():
    rng = np.random.default_rng(2)
    names = [f"u{index}" for index in range(12)]
    text_features = {name: rng.normal(size=(1 + index % 5, 8)) for index, name in enumerate(names)}
    teacher_logits = {name: rng.normal(size=4).astype("float32") for name in names[:-1]}  # u11 was not recorded
    items = [utterance(name, "x", LABELS[index % 4]) for index, name in enumerate(names)]
    dataset = make_dataset(items, LABELS, batch_size=3, text_features=text_features, teacher_logits=teacher_logits,
                           shuffle=True, seed=3, bucket_boundaries=(2, 4))
    served = {}
    for inputs, _ in batches(dataset):
        assert inputs["teacher_logits"].shape == (len(inputs["text_features"]), 4)
        for features, mask, logits in zip(inputs["text_features"], inputs["padding_mask"], inputs["teacher_logits"]):
            # each row's own features name its utterance: its logits must be that utterance's
            (name,) = [n for n in names if len(text_features[n]) == mask.sum()
                       and np.allclose(text_features[n], features[: mask.sum()], rtol=1e-6)]
            served[name] = logits
    assert sorted(served) == sorted(names[:-1])
    for name, logits in served.items():
        np.testing.assert_array_equal(logits, teacher_logits[name])
