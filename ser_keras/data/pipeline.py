"""`tf.data` input pipelines: decoded audio patches, tokens, masks, length buckets.

`make_dataset` turns utterances into batches `(inputs, label)` for the models:

* text as tokens (`"token_ids"`, `"segment_ids"`, `"padding_mask"`) from a
  tokenizer/preprocessor callable (run once over the split's texts), or as
  cached encoder outputs
  (`"text_features"` `[B, L, H]`, `"padding_mask"`);
* audio as VGGish log-mel patches (`"audio_patches"` `[B, N, 96, 64]`,
  `"audio_mask"`), decoded from the files, or as cached VGGish embeddings
  (`"audio_embeddings"` `[B, N, 128]`, `"audio_mask"`), with the clips'
  cached utterance statistics (`"audio_statistics"` `[B, D]`) when given;
* a teacher's recorded logits (`"teacher_logits"` `[B, C]`) when given, for
  distillation without running the teacher at every step;
* `label`: int32 `[B]`, the index of the utterance's label in the label set.

Masks are `True` on real tokens and patches. A text-only utterance gets one
all-zero patch (or embedding) with `audio_mask` False; an audio-only one gets
the tokenizer's output for the empty string (`[CLS] [SEP]`).

Audio files are read by `ser_keras.audio.load_audio` (soundfile + soxr) inside
`tf.numpy_function` in a parallel map: the decoding and resampling C code runs
outside the Python GIL, the log-mel patches are TensorFlow ops. A clip that
cannot be decoded is left out and listed in the skip report.

Batches are formed per length bucket (number of audio patches, or of tokens
for text-only data), so short clips are not padded to the longest; tokens are
trimmed to the longest text of the batch. With a fixed `seed` the order is
the same on every run.

Example:

>>> dataset = make_dataset(splits.train, preprocessor=preprocessor, batch_size=8,
...                        shuffle=True, seed=0)  # doctest: +SKIP
>>> inputs, labels = next(iter(dataset))  # doctest: +SKIP
>>> sorted(inputs)  # doctest: +SKIP
['audio_mask', 'audio_patches', 'padding_mask', 'segment_ids', 'token_ids']
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from ser_keras.audio import AudioReadError, load_audio, params, waveform_to_examples
from ser_keras.data.records import Utterance, label_ids
from ser_keras.data.skip_report import SkipReport
from ser_keras.labels import DEFAULT_LABELS

logger = logging.getLogger(__name__)

#: Default bucket boundaries, in audio patches (0.96 s each) or tokens.
DEFAULT_BUCKET_BOUNDARIES: tuple[int, ...] = (2, 3, 4, 6, 8, 12, 16, 24, 32)

#: The keys a tokenizer/preprocessor callable must return.
TOKEN_KEYS: tuple[str, ...] = ("token_ids", "segment_ids", "padding_mask")

Preprocessor = Callable[[tf.Tensor], Mapping[str, tf.Tensor]]  # texts [N] -> {key: [N, L]}


def make_dataset(
    utterances: Sequence[Utterance],
    label_names: Sequence[str] = DEFAULT_LABELS,
    *,
    batch_size: int = 8,
    preprocessor: Preprocessor | None = None,
    text_features: Mapping[str, np.ndarray] | None = None,
    audio_embeddings: Mapping[str, np.ndarray] | None = None,
    audio_statistics: Mapping[str, np.ndarray] | None = None,
    teacher_logits: Mapping[str, np.ndarray] | None = None,
    shuffle: bool = False,
    seed: int = 0,
    epoch: tf.Variable | None = None,
    bucket_boundaries: Sequence[int] | None = DEFAULT_BUCKET_BOUNDARIES,
    max_patches: int | None = params.DEFAULT_MAX_PATCHES,
    skip_report: SkipReport | None = None,
) -> tf.data.Dataset:
    """Builds a batched `tf.data.Dataset` of `(inputs, label)` for the models.

    Args:
        utterances: the split to serve.
        label_names: the label set; labels become their index in it.
        batch_size: utterances per batch (the last batch of a bucket may be smaller).
        preprocessor: maps a string tensor `[N]` to a dict with `"token_ids"`,
            `"segment_ids"` and `"padding_mask"` of shape `[N, L]`, e.g. a keras-hub
            `BertTextClassifierPreprocessor`; the split's texts are tokenized in
            one call. Required unless `text_features` is given.
        text_features: cached text-encoder outputs, utterance id -> `[L_i, H]`
            (real tokens only), e.g. from `EncoderCache.text_features`.
        audio_embeddings: cached audio-encoder outputs, utterance id ->
            `[N_i, 128]`, e.g. from `EncoderCache.audio_embeddings`.
        audio_statistics: each clip's utterance statistics, utterance id ->
            `[D]` (`ser_keras.models.clip_statistics`), served as
            `"audio_statistics"`; zeros for clips without audio.
        teacher_logits: a trained teacher's logits per utterance id, `[C]`
            each, served as `"teacher_logits"` (`ser_keras.training.recorded_teacher`).
        shuffle: shuffle the utterances (reshuffled every epoch).
        seed: the shuffling seed; the same seed gives the same order.
        epoch: an int64 variable holding the current epoch (set by
            `ser_keras.training.stages.EpochSeed`). When given, the order of an
            epoch is a function of `(seed, epoch)` alone, so a run resumed at
            epoch e sees exactly the order an uninterrupted run saw.
        bucket_boundaries: length-bucket limits; `None` or empty batches in order.
        max_patches: the cap on patches per clip when decoding audio.
        skip_report: receives the clips that cannot be decoded (each is also
            logged as a warning); pass one to print its summary at the end of a job.

    Returns:
        A dataset of `(inputs, label)`: see the module docstring for the keys.
        Utterances missing from a cache mapping (skipped while it was built)
        are left out.

    Raises:
        ValueError: without `preprocessor` and `text_features`, or for a bad `batch_size`.
        DatasetError: for labels outside `label_names`.

    Example:

    >>> dataset = make_dataset(splits.validation, text_features=features,
    ...                        audio_embeddings=embeddings)  # doctest: +SKIP
    """
    if preprocessor is None and text_features is None:
        raise ValueError("Pass `preprocessor` (to tokenize text) or `text_features` (cached).")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer; got {batch_size}.")
    items = _cached_or_not_needed(utterances, text_features, "text features", lambda item: True)
    items = _cached_or_not_needed(
        items, audio_embeddings, "audio embeddings", lambda item: item.has_audio
    )
    items = _cached_or_not_needed(items, teacher_logits, "teacher logits", lambda item: True)
    report = skip_report if skip_report is not None else SkipReport()
    columns = {
        "index": tf.range(len(items), dtype=tf.int64),
        "label": tf.constant(label_ids(items, label_names), tf.int32, shape=[len(items)]),
    }
    if text_features is None:
        columns.update(_tokenized(preprocessor, [item.text for item in items]))
    if audio_statistics is not None:
        columns["audio_statistics"] = _vector_column(items, audio_statistics)
    if teacher_logits is not None:
        columns["teacher_logits"] = _vector_column(items, teacher_logits)
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if shuffle and items:
        dataset = epoch_shuffled(dataset, len(items), seed, epoch)
    if audio_embeddings is not None:
        dataset = dataset.map(
            _cached_lookup(items, audio_embeddings, "audio_embeddings", "audio_mask"),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    else:
        dataset = with_audio_patches(dataset, items, report, max_patches)
    if text_features is not None:
        dataset = dataset.map(
            _cached_lookup(items, text_features, "text_features", "padding_mask"),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    dataset = dataset.map(_to_model_inputs)
    any_audio = audio_embeddings is not None or any(item.has_audio for item in items)
    dataset = _batch(
        dataset, batch_size, bucket_boundaries, "audio_mask" if any_audio else "padding_mask"
    )
    if any_audio or text_features is not None:
        lengths = _known_lengths(items, audio_embeddings if any_audio else text_features)
    else:  # text only, tokenized above: the padding masks give the lengths
        lengths = np.sum(columns["padding_mask"].numpy(), axis=1).tolist()
    if lengths is not None:
        # Bucketing hides the number of batches from Keras (no step count in the progress bar,
        # an "input ran out of data" warning every stage); from known lengths it is exact.
        batches = bucketed_batch_count(lengths, batch_size, bucket_boundaries)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    return dataset.map(_trim_text_padding).prefetch(tf.data.AUTOTUNE)


def _vector_column(utterances: Sequence[Utterance], vectors: Mapping[str, np.ndarray]) -> tf.Tensor:
    """`[len(utterances), D]`: each utterance's vector (statistics, teacher logits), zeros for one without."""
    size = len(next(iter(vectors.values()))) if vectors else 0
    empty = np.zeros([size], np.float32)
    rows = [np.asarray(vectors.get(item.utterance_id, empty), np.float32) for item in utterances]
    return tf.constant(np.stack(rows) if rows else np.zeros([0, size], np.float32))


def bucketed_batch_count(lengths: Sequence[int], batch_size: int, bucket_boundaries: Sequence[int] | None) -> int:
    """How many batches `make_dataset` forms from elements of these bucketing lengths.

    `bucket_by_sequence_length` puts a length `n` in bucket `i` where `i` is the
    number of boundaries `<= n`, and emits each bucket's remainder as a smaller
    batch; without buckets it is `ceil(len / batch_size)`.

    Example:

    >>> bucketed_batch_count([1, 1, 1, 5, 9], batch_size=2, bucket_boundaries=(2, 8))
    4
    """
    if not bucket_boundaries:
        return math.ceil(len(lengths) / batch_size)
    boundaries = sorted(int(boundary) for boundary in bucket_boundaries)
    counts = Counter(bisect.bisect_right(boundaries, int(length)) for length in lengths)
    return sum(math.ceil(count / batch_size) for count in counts.values())


def _known_lengths(utterances: Sequence[Utterance], cached: Mapping[str, np.ndarray] | None) -> list[int] | None:
    """The bucketing length of each element when the cache that sets it is given (else `None`).

    It is the mask's sum: the cached array's length, 0 for an utterance without one.
    """
    if cached is None:
        return None
    return [len(cached.get(item.utterance_id, ())) for item in utterances]


def epoch_shuffled(
    dataset: tf.data.Dataset, size: int, seed: int, epoch: tf.Variable | None
) -> tf.data.Dataset:
    """`dataset` (of dicts, `size` elements) reshuffled every epoch, in an order set by `(seed, epoch)`.

    With an `epoch` variable (see `ser_keras.training.stages.EpochSeed`) the
    order of an epoch depends on the seed and the epoch number alone, so a run
    resumed at epoch e sees the order an uninterrupted run saw; without one,
    it is a seeded `shuffle`.

    Example:

    >>> epoch = tf.Variable(0, dtype=tf.int64)
    >>> data = tf.data.Dataset.from_tensor_slices({"x": tf.range(4)})
    >>> sorted(int(e["x"]) for e in epoch_shuffled(data, 4, seed=0, epoch=epoch))
    [0, 1, 2, 3]
    """
    if epoch is None:
        return dataset.shuffle(size, seed=seed, reshuffle_each_iteration=True)
    elements = next(iter(dataset.batch(size)))

    def pick(position: tf.Tensor) -> dict:
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch.read_value(), tf.int64)])
        source = tf.random.experimental.index_shuffle(position, key, size - 1)
        return {name: tf.gather(values, source) for name, values in elements.items()}

    return tf.data.Dataset.range(size).map(pick)


def with_audio_patches(
    dataset: tf.data.Dataset,
    utterances: Sequence[Utterance],
    skip_report: SkipReport,
    max_patches: int | None = params.DEFAULT_MAX_PATCHES,
) -> tf.data.Dataset:
    """Adds `"audio_patches"` `[N, 96, 64]` and `"audio_mask"` `[N]` to elements with an `"index"`.

    `element["index"]` points into `utterances`. Files are decoded in a
    parallel, order-preserving map; clips that cannot be decoded are listed
    in `skip_report` and left out. Text-only utterances get one zero patch
    with a False mask.

    Example:

    >>> indices = tf.data.Dataset.from_tensor_slices({"index": [0, 1]})  # doctest: +SKIP
    >>> patches = with_audio_patches(indices, utterances, SkipReport())  # doctest: +SKIP
    """
    decode = _AudioDecoder(utterances, skip_report)
    has_audio = tf.constant([item.has_audio for item in utterances] or [False], dtype=tf.bool)

    def decode_element(element: dict) -> dict:
        waveform, readable = tf.numpy_function(decode, [element["index"]], (tf.float32, tf.bool))
        waveform.set_shape([None])
        readable.set_shape([])
        return {**element, "waveform": waveform, "readable": readable}

    def to_patches(element: dict) -> dict:
        element = dict(element)
        waveform = element.pop("waveform")
        element.pop("readable")
        patches, mask = tf.cond(
            has_audio[element["index"]],
            lambda: _real_patches(waveform, max_patches),
            _placeholder_patches,
        )
        return {**element, "audio_patches": patches, "audio_mask": mask}

    return (
        dataset.map(decode_element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .filter(lambda element: element["readable"])
        .map(to_patches, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    )


class _AudioDecoder:
    """The `tf.numpy_function` body: utterance index -> (waveform, readable)."""

    def __init__(self, utterances: Sequence[Utterance], skip_report: SkipReport):
        self._utterances = list(utterances)
        self._skip_report = skip_report

    def __call__(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        utterance = self._utterances[int(index)]
        if not utterance.has_audio:
            return np.zeros([0], np.float32), np.bool_(True)
        try:
            return load_audio(utterance.audio_path), np.bool_(True)
        except AudioReadError as error:
            self._skip_report.skip(
                utterance.utterance_id, "unreadable audio", error.path, error.reason
            )
            return np.zeros([0], np.float32), np.bool_(False)


def _real_patches(waveform: tf.Tensor, max_patches: int | None) -> tuple[tf.Tensor, tf.Tensor]:
    patches = waveform_to_examples(waveform, params.SAMPLE_RATE, max_patches=max_patches)
    return patches, tf.ones([tf.shape(patches)[0]], tf.bool)


def _placeholder_patches() -> tuple[tf.Tensor, tf.Tensor]:
    return tf.zeros([1, params.NUM_FRAMES, params.NUM_BANDS]), tf.zeros([1], tf.bool)


def _cached_or_not_needed(
    utterances: Sequence[Utterance],
    cached: Mapping[str, np.ndarray] | None,
    name: str,
    needs_cache: Callable[[Utterance], bool],
) -> list[Utterance]:
    """The utterances that have a cache entry or do not need one (text-only items need no audio)."""
    if cached is None:
        return list(utterances)
    kept = [item for item in utterances if item.utterance_id in cached or not needs_cache(item)]
    if len(kept) < len(utterances):
        logger.warning(
            "%d of %d utterances have no cached %s (skipped while the cache was built); left out.",
            len(utterances) - len(kept),
            len(utterances),
            name,
        )
    return kept


def _cached_lookup(
    utterances: Sequence[Utterance], cached: Mapping[str, np.ndarray], value_key: str, mask_key: str
) -> Callable[[dict], dict]:
    """A map function adding the cached `[length, width]` array of `element["index"]` and its mask.

    An utterance without an entry (or with an empty one) gets one zero row with a False mask.
    """
    width = next(iter(cached.values())).shape[-1] if cached else 1
    rows = [
        _rows_and_mask(cached.get(item.utterance_id), width, item.utterance_id)
        for item in utterances
    ]

    def lookup(element: dict) -> dict:
        values, mask = tf.numpy_function(
            lambda index: rows[int(index)], [element["index"]], (tf.float32, tf.bool)
        )
        values.set_shape([None, width])
        mask.set_shape([None])
        return {**element, value_key: values, mask_key: mask}

    return lookup


def _rows_and_mask(
    array: np.ndarray | None, width: int, utterance_id: str
) -> tuple[np.ndarray, np.ndarray]:
    if array is None or len(array) == 0:
        return np.zeros([1, width], np.float32), np.zeros([1], bool)
    array = np.asarray(array, np.float32)
    if array.ndim != 2 or array.shape[1] != width:
        raise ValueError(
            f"Cached array of '{utterance_id}' has shape {array.shape}; "
            f"all must be [length, {width}]."
        )
    return array, np.ones([len(array)], bool)


def _tokenized(preprocessor: Preprocessor, texts: Sequence[str]) -> dict[str, tf.Tensor]:
    """The token columns of a whole split, `[N, L]` each, from one call of the preprocessor.

    Tokenizing once, eagerly, costs less than a tokenizer traced into every
    dataset a job builds (each stage and evaluation builds its own).
    """
    texts = list(texts)
    tokens = preprocessor(tf.constant(texts or [""], tf.string, shape=[max(len(texts), 1)]))
    missing = [key for key in TOKEN_KEYS if key not in tokens]
    if missing:
        raise ValueError(
            f"The preprocessor must return a dict with {list(TOKEN_KEYS)}; "
            f"{missing} are missing."
        )
    dtypes = {"token_ids": tf.int32, "segment_ids": tf.int32, "padding_mask": tf.bool}
    return {key: tf.cast(tokens[key], dtype)[: len(texts)] for key, dtype in dtypes.items()}


_MODEL_INPUT_KEYS = (
    "token_ids",
    "segment_ids",
    "padding_mask",
    "text_features",
    "audio_patches",
    "audio_embeddings",
    "audio_mask",
    "audio_statistics",
    "teacher_logits",
)


def _to_model_inputs(element: dict) -> tuple[dict, tf.Tensor]:
    inputs = {key: value for key, value in element.items() if key in _MODEL_INPUT_KEYS}
    return inputs, element["label"]


def _batch(
    dataset: tf.data.Dataset,
    batch_size: int,
    bucket_boundaries: Sequence[int] | None,
    length_key: str,
) -> tf.data.Dataset:
    if not bucket_boundaries:
        return dataset.padded_batch(batch_size)
    boundaries = sorted(int(boundary) for boundary in bucket_boundaries)
    return dataset.bucket_by_sequence_length(
        element_length_func=lambda inputs, label: tf.reduce_sum(
            tf.cast(inputs[length_key], tf.int32)
        ),
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
    )


def _trim_text_padding(inputs: dict, labels: tf.Tensor) -> tuple[dict, tf.Tensor]:
    """Cuts token columns past the longest text of the batch (fixed-length tokenizers pad more)."""
    longest = tf.maximum(
        tf.reduce_max(tf.reduce_sum(tf.cast(inputs["padding_mask"], tf.int32), axis=1)), 1
    )
    text_keys = ("token_ids", "segment_ids", "padding_mask", "text_features")
    trimmed = {
        key: value[:, :longest] if key in text_keys else value for key, value in inputs.items()
    }
    return trimmed, labels
