"""Benchmark inputs: real clips of a split as batch-of-one model inputs, and padded batches of them.

Example:

>>> clips = load_clips(splits.test[:50], preprocessor)  # doctest: +SKIP
>>> clips[0].inputs["audio_patches"].shape  # doctest: +SKIP
(1, 2, 96, 64)
>>> stack_inputs([clip.inputs for clip in clips[:32]])["audio_mask"].shape  # doctest: +SKIP
(32, 3)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ser_keras.audio import AudioReadError, load_audio, params
from ser_keras.export import clip_model_inputs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    """One decoded clip: its waveform, transcript and batch-of-one model inputs.

    Example:

    >>> clip.num_patches, clip.num_tokens  # doctest: +SKIP
    (2, 11)
    """

    utterance_id: str
    waveform: np.ndarray
    text: str
    inputs: dict[str, np.ndarray]

    @property
    def num_patches(self) -> int:
        """Audio patches (0.96 s each) of the clip."""
        return int(self.inputs["audio_patches"].shape[1])

    @property
    def num_tokens(self) -> int:
        """Real tokens of the transcript, [CLS] and [SEP] included."""
        return int(self.inputs["padding_mask"].sum())


def load_clips(
    utterances: Sequence,
    preprocessor,
    limit: int | None = None,
    max_patches: int | None = params.DEFAULT_MAX_PATCHES,
) -> list[Clip]:
    """Decodes up to `limit` clips with audio; unreadable ones are left out with a warning.

    Raises:
        ValueError: no clip could be read.

    Example:

    >>> len(load_clips(splits.test, preprocessor, limit=5))  # doctest: +SKIP
    5
    """
    clips = []
    for item in [item for item in utterances if item.has_audio]:
        if limit is not None and len(clips) >= limit:
            break
        try:
            waveform = load_audio(item.audio_path)
        except AudioReadError as error:
            logger.warning("Benchmark clips: %s; clip left out.", error)
            continue
        text = item.text or ""
        inputs = clip_model_inputs(preprocessor, waveform, text, max_patches=max_patches)
        clips.append(Clip(item.utterance_id, waveform, text, inputs))
    if not clips:
        raise ValueError(f"None of {len(utterances)} clips could be read; check the manifest's audio paths.")
    return clips


def stack_inputs(samples: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One batch of batch-of-one inputs: patches zero-padded to the longest clip, masks False there.

    Example:

    >>> batch = stack_inputs([clip.inputs for clip in clips])  # doctest: +SKIP
    """
    batch = {
        key: np.concatenate([sample[key] for sample in samples])
        for key in ("token_ids", "segment_ids", "padding_mask")
    }
    longest = max(sample["audio_patches"].shape[1] for sample in samples)
    patches = np.zeros((len(samples), longest, *samples[0]["audio_patches"].shape[2:]), np.float32)
    mask = np.zeros((len(samples), longest), bool)
    for row, sample in enumerate(samples):
        count = sample["audio_patches"].shape[1]
        patches[row, :count] = sample["audio_patches"][0]
        mask[row, :count] = True
    batch["audio_patches"], batch["audio_mask"] = patches, mask
    return batch


def batch_of(clips: Sequence[Clip], batch_size: int) -> dict[str, np.ndarray]:
    """A padded batch of `batch_size` clips, cycling through `clips` when there are fewer.

    Example:

    >>> batch_of(clips, 32)["token_ids"].shape  # doctest: +SKIP
    (32, 48)
    """
    return stack_inputs([clips[index % len(clips)].inputs for index in range(batch_size)])
