"""Representative data for the int8 TFLite variant: model inputs of a seeded sample of clips.

Example:

>>> calibration = representative_inputs(train_utterances, preprocessor, limit=50)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

import numpy as np

from ser_keras.audio import AudioReadError, load_audio, params
from ser_keras.export.inputs import MODEL_INPUT_NAMES, clip_model_inputs

logger = logging.getLogger(__name__)


def representative_inputs(
    utterances: Sequence,
    preprocessor,
    input_names: Sequence[str] = MODEL_INPUT_NAMES,
    max_patches: int | None = params.DEFAULT_MAX_PATCHES,
    limit: int = 100,
    seed: int = 0,
) -> list[dict[str, np.ndarray]]:
    """Batch-of-one model inputs for a seeded random sample of training clips (int8 calibration).

    Args:
        utterances: `ser_keras.data.Utterance`s with audio (the training split).
        preprocessor: the model's text preprocessor.
        input_names: the model's inputs (from the export's metadata).
        max_patches: cap on audio patches per clip.
        limit: at most this many clips.
        seed: which clips are drawn.

    Returns:
        A list of input dicts; unreadable clips are left out with a warning.

    Raises:
        ValueError: no clip could be read.

    Example:

    >>> data = representative_inputs(corpus.utterances, preprocessor, limit=50)  # doctest: +SKIP
    """
    candidates = [item for item in utterances if item.has_audio]
    random.Random(seed).shuffle(candidates)
    samples = []
    for utterance in candidates[:limit]:
        try:
            waveform = load_audio(utterance.audio_path)
        except AudioReadError as error:
            logger.warning("Calibration: %s; clip left out.", error)
            continue
        samples.append(
            clip_model_inputs(preprocessor, waveform, utterance.text, input_names, max_patches)
        )
    if not samples:
        raise ValueError(
            f"No readable audio clip among {len(candidates[:limit])} calibration candidates; "
            "pass a manifest whose audio files exist."
        )
    return samples
