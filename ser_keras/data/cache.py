"""Encoder-output cache: frozen encoders run once per clip, then their outputs are reused.

The audio encoder (VGGish) is frozen in both training stages and the text
encoder (BERT) in stage 1, so their outputs are computed once and shared by
the teacher, every student and every epoch.

Each entry is keyed by the clip's content: the audio file's bytes (plus the
patch cap) for audio, the text and its token ids for text. Entries live in one
`.npz` file per encoder and kind, named by a hash of the encoder's weight
values: changing the weights starts a new file, changing a clip changes its
key, so stale outputs are never used. Files are written atomically and read
with `allow_pickle=False`; an unreadable file is rebuilt.

Example:

>>> cache = EncoderCache("~/.cache/ser_keras")  # doctest: +SKIP
>>> embeddings = cache.audio_embeddings(splits.train, build_vggish(weights))  # doctest: +SKIP
>>> features = cache.text_features(splits.train, bert_backbone, preprocessor)  # doctest: +SKIP
>>> dataset = make_dataset(splits.train, text_features=features,
...                        audio_embeddings=embeddings)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ser_keras.audio import params
from ser_keras.data.pipeline import TOKEN_KEYS, Preprocessor, with_audio_patches
from ser_keras.data.records import Utterance
from ser_keras.data.skip_report import SkipReport

logger = logging.getLogger(__name__)

_READ_CHUNK_BYTES = 1 << 20

#: Stands for the (weightless) log-mel front end in cache file names; bump it when the front end changes.
LOG_MEL_FINGERPRINT = "log-mel-patches-v1"


def weights_fingerprint(encoder: Any) -> str:
    """A SHA-256 hex digest of an encoder's weight values (shapes, dtypes and numbers).

    Args:
        encoder: a Keras layer or model, or any object with a `weights` list of
            variables or arrays.

    Raises:
        TypeError: when `encoder` has no `weights`; pass `encoder_fingerprint`
            to the cache instead.

    Example:

    >>> layer = keras.layers.Dense(2)
    >>> layer.build((None, 3))
    >>> len(weights_fingerprint(layer))
    64
    """
    weights = getattr(encoder, "weights", None)
    if weights is None:
        raise TypeError(
            f"Cannot fingerprint {type(encoder).__name__}: it has no `weights`. Pass a Keras "
            "layer/model or give `encoder_fingerprint` (a string that changes with the weights)."
        )
    digest = hashlib.sha256()
    for weight in weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"{value.dtype.str}{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


class EncoderCache:
    """Computes encoder outputs per clip once and stores them under `directory`.

    Args:
        directory: where the `.npz` files live (created when needed).
        show_progress: show a `keras.utils.Progbar` while outputs are computed.

    Example:

    >>> cache = EncoderCache("cache")  # doctest: +SKIP
    >>> report = SkipReport()
    >>> embeddings = cache.audio_embeddings(
    ...     utterances, vggish, skip_report=report)  # doctest: +SKIP
    >>> embeddings["clip1"].shape  # doctest: +SKIP
    (3, 128)
    """

    def __init__(self, directory: str | os.PathLike, show_progress: bool = True):
        self.directory = Path(directory).expanduser()
        self.show_progress = show_progress

    def audio_embeddings(
        self,
        utterances: Sequence[Utterance],
        audio_encoder: Callable[[tf.Tensor], Any],
        *,
        skip_report: SkipReport | None = None,
        max_patches: int | None = params.DEFAULT_MAX_PATCHES,
        patches_per_call: int = 64,
        encoder_fingerprint: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Audio-encoder outputs `[num_patches, D]` per utterance id.

        Args:
            utterances: the clips; text-only ones are ignored.
            audio_encoder: maps patches `[N, 96, 64]` to embeddings `[N, D]`
                (VGGish: D = 128), e.g. `build_vggish(...)`.
            skip_report: receives the clips that cannot be read; they are left
                out of the result (and retried on the next call).
            max_patches: the cap on patches per clip (part of the key).
            patches_per_call: about how many patches go through the encoder at once.
            encoder_fingerprint: identifies the encoder's weights; by default
                `weights_fingerprint(audio_encoder)`.

        Example:

        >>> cache.audio_embeddings(utterances, vggish)["clip1"].shape  # doctest: +SKIP
        (3, 128)
        """
        report = skip_report if skip_report is not None else SkipReport()
        keys = {}
        for item in utterances:
            if item.has_audio:
                key = _audio_key(item, max_patches, report)
                if key is not None:
                    keys[item.utterance_id] = key
        store = self._store(
            "audio_embeddings", encoder_fingerprint or weights_fingerprint(audio_encoder)
        )
        missing = [
            item
            for item in utterances
            if item.utterance_id in keys and keys[item.utterance_id] not in store
        ]
        if missing:
            computed = self._compute_audio(
                missing, audio_encoder, report, max_patches, patches_per_call
            )
            store.add({keys[utterance_id]: value for utterance_id, value in computed.items()})
        return store.lookup(keys)

    def log_mel_patches(
        self,
        utterances: Sequence[Utterance],
        *,
        skip_report: SkipReport | None = None,
        max_patches: int | None = params.DEFAULT_MAX_PATCHES,
    ) -> dict[str, np.ndarray]:
        """The VGGish log-mel patches `[num_patches, 96, 64]` of each clip, decoded once.

        Trainable audio encoders, linear probes and speaker normalisation read
        these instead of decoding the audio again. Keyed like
        `audio_embeddings` (file content and patch cap).

        Example:

        >>> cache.log_mel_patches(utterances)["clip1"].shape  # doctest: +SKIP
        (3, 96, 64)
        """
        flat = self.audio_embeddings(
            utterances,
            _flatten_patches,
            skip_report=skip_report,
            max_patches=max_patches,
            encoder_fingerprint=LOG_MEL_FINGERPRINT,
        )
        return {key: value.reshape(-1, params.NUM_FRAMES, params.NUM_BANDS) for key, value in flat.items()}

    def patch_embeddings(
        self,
        patches: Mapping[str, np.ndarray],
        audio_encoder: Callable[[tf.Tensor], Any],
        *,
        patches_per_call: int = 256,
        encoder_fingerprint: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Audio-encoder outputs `[num_patches, D]` of given log-mel patches, per utterance id.

        Keyed by the patches' values, so normalised patches (per speaker, say)
        get their own entries.

        Example:

        >>> patches = cache.log_mel_patches(utterances)  # doctest: +SKIP
        >>> cache.patch_embeddings(patches, encoder)["clip1"].shape  # doctest: +SKIP
        (3, 128)
        """
        keys = {
            utterance_id: hashlib.sha256(np.ascontiguousarray(value, np.float32).tobytes()).hexdigest()
            for utterance_id, value in patches.items()
        }
        store = self._store(
            "patch_embeddings", encoder_fingerprint or weights_fingerprint(audio_encoder)
        )
        missing = [utterance_id for utterance_id, key in keys.items() if key not in store]
        if missing:
            progress = self._progress(len(missing), "audio embeddings")
            computed = _encode_in_chunks(
                ((utterance_id, patches[utterance_id]) for utterance_id in missing),
                audio_encoder, patches_per_call, progress,
            )
            store.add({keys[utterance_id]: value for utterance_id, value in computed.items()})
        return store.lookup(keys)

    def text_features(
        self,
        utterances: Sequence[Utterance],
        text_encoder: Callable[[dict], Any],
        preprocessor: Preprocessor,
        *,
        batch_size: int = 32,
        encoder_fingerprint: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Text-encoder outputs `[num_real_tokens, H]` per utterance id.

        Args:
            utterances: the items; every one has text (possibly empty).
            text_encoder: maps `{"token_ids", "segment_ids", "padding_mask"}`
                `[B, L]` to `[B, L, H]`, or to a dict holding it as
                `"sequence_output"` (a keras-hub `BertBackbone`).
            preprocessor: maps a batch of strings `[B]` to those token dicts,
                e.g. a keras-hub `BertTextClassifierPreprocessor`.
            batch_size: texts per encoder call.
            encoder_fingerprint: identifies the encoder's weights; by default
                `weights_fingerprint(text_encoder)`.

        Returns:
            Utterance id -> float32 `[L_i, H]`, the outputs at the real tokens
            (padding positions are not stored).

        Example:

        >>> cache.text_features(utterances, backbone, preprocessor)["clip1"].shape  # doctest: +SKIP
        (12, 768)
        """
        tokens = _tokenize(utterances, preprocessor, batch_size)
        keys = {
            item.utterance_id: _text_key(item.text, tokens[item.utterance_id])
            for item in utterances
        }
        store = self._store(
            "text_features", encoder_fingerprint or weights_fingerprint(text_encoder)
        )
        missing = [item for item in utterances if keys[item.utterance_id] not in store]
        if missing:
            computed = self._compute_text(missing, tokens, text_encoder, batch_size)
            store.add({keys[utterance_id]: value for utterance_id, value in computed.items()})
        return store.lookup(keys)

    def _store(self, kind: str, fingerprint: str) -> _NpzStore:
        return _NpzStore(self.directory / f"{kind}-{fingerprint[:24]}.npz", fingerprint)

    def _progress(self, total: int, what: str) -> keras.utils.Progbar:
        logger.info("Computing %s for %d clips (cached in %s).", what, total, self.directory)
        return keras.utils.Progbar(total, verbose=1 if self.show_progress else 0, unit_name="clip")

    def _compute_audio(
        self,
        utterances: list[Utterance],
        encoder: Callable[[tf.Tensor], Any],
        report: SkipReport,
        max_patches: int | None,
        patches_per_call: int,
    ) -> dict[str, np.ndarray]:
        progress = self._progress(len(utterances), "audio embeddings")
        indices = tf.data.Dataset.from_tensor_slices(
            {"index": tf.range(len(utterances), dtype=tf.int64)}
        )
        decoded = with_audio_patches(indices, utterances, report, max_patches)
        outputs = _encode_in_chunks(
            (
                (utterances[int(element["index"])].utterance_id, element["audio_patches"])
                for element in decoded.prefetch(tf.data.AUTOTUNE).as_numpy_iterator()
            ),
            encoder, patches_per_call, progress,
        )
        progress.update(len(utterances), finalize=True)
        return outputs

    def _compute_text(
        self,
        utterances: list[Utterance],
        tokens: Mapping[str, dict[str, np.ndarray]],
        encoder: Callable[[dict], Any],
        batch_size: int,
    ) -> dict[str, np.ndarray]:
        progress = self._progress(len(utterances), "text features")
        outputs = {}
        for start in range(0, len(utterances), batch_size):
            batch = utterances[start : start + batch_size]
            lengths = [len(tokens[item.utterance_id]["token_ids"]) for item in batch]
            inputs = {
                key: _pad_rows([tokens[item.utterance_id][key] for item in batch], max(lengths))
                for key in TOKEN_KEYS
            }
            sequence_output = _sequence_output(encoder(inputs))
            for row, (item, length) in enumerate(zip(batch, lengths, strict=True)):
                outputs[item.utterance_id] = sequence_output[row, :length]
            progress.add(len(batch))
        return outputs


class _NpzStore:
    """Key -> float32 array entries of one encoder, in a single `.npz` file.

    The file holds `fingerprint`, `keys`, `lengths` and the concatenated `values`.
    """

    def __init__(self, path: Path, fingerprint: str):
        self.path = path
        self.fingerprint = fingerprint
        self._entries = self._read()

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def lookup(self, keys: Mapping[str, str]) -> dict[str, np.ndarray]:
        """Name -> stored array, for the names whose key is stored."""
        return {name: self._entries[key] for name, key in keys.items() if key in self._entries}

    def add(self, entries: Mapping[str, np.ndarray]) -> None:
        """Adds entries and rewrites the file atomically (nothing to add: no write)."""
        if entries:
            self._entries.update(entries)
            self._write()

    def _read(self) -> dict[str, np.ndarray]:
        if not self.path.is_file():
            return {}
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                if str(stored["fingerprint"]) != self.fingerprint:
                    raise ValueError("its encoder fingerprint differs from the file name")
                values = np.split(stored["values"], np.cumsum(stored["lengths"])[:-1])
                return dict(zip(stored["keys"].tolist(), values, strict=True))
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as error:
            logger.warning("Encoder cache %s is unreadable (%s); rebuilding it.", self.path, error)
            return {}

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._entries)
        arrays = [self._entries[key] for key in keys]
        with tempfile.NamedTemporaryFile(
            dir=self.path.parent, suffix=".tmp", delete=False
        ) as temporary:
            np.savez(
                temporary,
                fingerprint=np.array(self.fingerprint),
                keys=np.array(keys, dtype=str),
                lengths=np.array([len(array) for array in arrays], dtype=np.int64),
                values=np.concatenate(arrays).astype(np.float32),
            )
        os.replace(temporary.name, self.path)
        logger.info("Encoder cache %s: %d entries.", self.path, len(keys))


def _audio_key(item: Utterance, max_patches: int | None, report: SkipReport) -> str | None:
    digest = hashlib.sha256(f"audio;max_patches={max_patches};".encode())
    try:
        with open(item.audio_path, "rb") as audio_file:
            for chunk in iter(lambda: audio_file.read(_READ_CHUNK_BYTES), b""):
                digest.update(chunk)
    except OSError as error:
        report.skip(item.utterance_id, "unreadable audio", item.audio_path, str(error))
        return None
    return digest.hexdigest()


def _text_key(text: str, tokens: Mapping[str, np.ndarray]) -> str:
    digest = hashlib.sha256(f"text;{text};".encode())
    for key in TOKEN_KEYS:
        digest.update(np.ascontiguousarray(tokens[key], np.int32).tobytes())
    return digest.hexdigest()


def _tokenize(
    utterances: Sequence[Utterance], preprocessor: Preprocessor, batch_size: int
) -> dict[str, dict[str, np.ndarray]]:
    """Utterance id -> the token arrays of its real tokens (padding cut)."""
    tokens = {}
    for start in range(0, len(utterances), batch_size):
        batch = utterances[start : start + batch_size]
        outputs = preprocessor(tf.constant([item.text for item in batch]))
        arrays = {key: keras.ops.convert_to_numpy(outputs[key]) for key in TOKEN_KEYS}
        for row, item in enumerate(batch):
            length = int(arrays["padding_mask"][row].sum())
            tokens[item.utterance_id] = {key: arrays[key][row, :length] for key in TOKEN_KEYS}
    return tokens


def _flatten_patches(patches: tf.Tensor) -> np.ndarray:
    """`[N, 96, 64]` -> `[N, 96 * 64]`: the cache stores rows."""
    values = np.asarray(patches, np.float32)
    return values.reshape(len(values), -1)


def _pad_rows(rows: Iterable[np.ndarray], length: int) -> np.ndarray:
    return np.stack([np.pad(row, (0, length - len(row))) for row in rows])


def _sequence_output(outputs: Any) -> np.ndarray:
    if isinstance(outputs, Mapping):
        outputs = outputs["sequence_output"]
    return keras.ops.convert_to_numpy(outputs).astype(np.float32)


def _encode_in_chunks(
    clips: Iterable[tuple[str, np.ndarray]],
    encoder: Callable[[tf.Tensor], Any],
    patches_per_call: int,
    progress: keras.utils.Progbar,
) -> dict[str, np.ndarray]:
    """Encodes `(utterance id, patches)` pairs about `patches_per_call` patches at a time."""
    outputs: dict[str, np.ndarray] = {}
    pending: list[tuple[str, np.ndarray]] = []
    for clip in clips:
        pending.append(clip)
        if sum(len(patches) for _, patches in pending) >= patches_per_call:
            outputs.update(_encode_audio(pending, encoder))
            progress.add(len(pending))
            pending = []
    if pending:
        outputs.update(_encode_audio(pending, encoder))
        progress.add(len(pending))
    return outputs


def _encode_audio(
    clips: list[tuple[str, np.ndarray]], encoder: Callable[[tf.Tensor], Any]
) -> dict[str, np.ndarray]:
    embeddings = keras.ops.convert_to_numpy(
        encoder(np.concatenate([patches for _, patches in clips]))
    )
    splits = np.split(
        embeddings.astype(np.float32), np.cumsum([len(patches) for _, patches in clips])[:-1]
    )
    return {
        utterance_id: clip_embeddings
        for (utterance_id, _), clip_embeddings in zip(clips, splits, strict=True)
    }
