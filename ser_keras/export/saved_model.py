"""Exporting a trained raw-input model as a TF Serving SavedModel with its side files.

Example:

>>> from ser_keras.export import export_model
>>> saved_model_dir = export_model(model, preprocessor, DEFAULT_LABELS,
...                                "saved_models/demo/export/student")  # doctest: +SKIP
>>> saved_model_dir  # doctest: +SKIP
'saved_models/demo/export/student/1'
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ser_keras.audio import params, waveform_to_examples
from ser_keras.export.atomic import atomic_directory
from ser_keras.data.enrolment import DEFAULT_ENROLMENT_CLIPS, ENROLMENT, check_speaker_statistics_mode
from ser_keras.data.speaker_norm import MIN_STD, BandStatistics
from ser_keras.export.inputs import MODEL_INPUT_NAMES
from ser_keras.export.layout import (
    FORMAT_NAME,
    FORMAT_VERSION,
    KERAS_MODEL_FILE,
    PREPROCESSOR_DIR,
    RAW_SIGNATURE,
    SPEAKER_NORMALIZATION_KEY,
    SPEAKER_SIGNATURE,
    TOKENS_SIGNATURE,
    find_saved_model,
    side_files_dir,
    write_metadata,
)

logger = logging.getLogger(__name__)

_INPUT_SPECS = {
    "token_ids": tf.TensorSpec([None, None], tf.int32, name="token_ids"),
    "segment_ids": tf.TensorSpec([None, None], tf.int32, name="segment_ids"),
    "padding_mask": tf.TensorSpec([None, None], tf.bool, name="padding_mask"),
    "audio_patches": tf.TensorSpec(
        [None, None, params.NUM_FRAMES, params.NUM_BANDS], tf.float32, name="audio_patches"
    ),
    "audio_mask": tf.TensorSpec([None, None], tf.bool, name="audio_mask"),
}
_RAW_SPECS = [
    tf.TensorSpec([None], tf.string, name="text"),
    tf.TensorSpec([None, None], tf.float32, name="waveform"),
    tf.TensorSpec([None], tf.int32, name="waveform_length"),
]
_SPEAKER_SPECS = [
    tf.TensorSpec([None, params.NUM_BANDS], tf.float32, name="speaker_mean"),
    tf.TensorSpec([None, params.NUM_BANDS], tf.float32, name="speaker_std"),
]
_PATCHES_SPEC = tf.RaggedTensorSpec(
    shape=[None, params.NUM_FRAMES, params.NUM_BANDS], dtype=tf.float32, ragged_rank=0
)


def _check_model(model: keras.Model, label_names: Sequence[str]) -> list[str]:
    if not isinstance(model.input, Mapping):
        raise ValueError(
            "export_model needs a raw-input model with named inputs (a dict); "
            f"got inputs {model.inputs}. Build it with ser_keras.models.build_raw_model."
        )
    input_names = list(model.input)
    unknown = sorted(set(input_names) - set(MODEL_INPUT_NAMES))
    if unknown:
        raise ValueError(
            f"The model takes {unknown}, which a raw-input export cannot compute: export the "
            f"model with its encoders inside (inputs among {list(MODEL_INPUT_NAMES)}), e.g. "
            "SERModels.raw_model built with the audio encoder."
        )
    outputs = model.output
    logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs
    num_classes = logits.shape[-1]
    if num_classes != len(label_names):
        raise ValueError(
            f"The model predicts {num_classes} classes but {len(label_names)} label names "
            f"were given ({list(label_names)})."
        )
    return input_names


def _prediction_outputs(logits: tf.Tensor, label_names: Sequence[str]) -> dict[str, tf.Tensor]:
    probabilities = tf.nn.softmax(logits, axis=-1)
    label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return {
        "probabilities": probabilities,
        "label_id": label_id,
        "label": tf.gather(tf.constant(list(label_names)), label_id),
    }


def batch_audio_patches(waveform: tf.Tensor, waveform_length: tf.Tensor, max_patches: int | None):
    """Log-mel patches of a zero-padded waveform batch, padded to the longest clip, and their mask.

    Args:
        waveform: float32 `[B, T]`, 16 kHz, each clip zero-padded after its end.
        waveform_length: int32 `[B]`, the real length of each clip (1 to T).
        max_patches: cap on patches per clip (see `waveform_to_examples`).

    Returns:
        `(audio_patches [B, N, 96, 64], audio_mask [B, N])`.

    Example:

    >>> patches, mask = batch_audio_patches(tf.zeros([2, 32000]), tf.constant([32000, 8000]), 64)
    >>> patches.shape, mask.numpy().sum(axis=1).tolist()
    (TensorShape([2, 2, 96, 64]), [2, 1])
    """
    checks = [
        tf.debugging.assert_positive(
            waveform_length, message="waveform_length must be at least 1 (empty audio)."
        ),
        tf.debugging.assert_less_equal(
            waveform_length,
            tf.shape(waveform, out_type=tf.int32)[1],
            message="waveform_length exceeds the waveform's padded length.",
        ),
        tf.debugging.assert_equal(
            tf.shape(waveform)[0],
            tf.shape(waveform_length)[0],
            message="waveform and waveform_length have different batch sizes.",
        ),
    ]
    with tf.control_dependencies(checks):
        patches = tf.map_fn(
            lambda clip: waveform_to_examples(
                clip[0][: clip[1]], params.SAMPLE_RATE, max_patches=max_patches
            ),
            (waveform, waveform_length),
            fn_output_signature=_PATCHES_SPEC,
        )
    return patches.to_tensor(), tf.sequence_mask(patches.row_lengths())


def _serving_functions(
    model: keras.Model,
    preprocessor: Callable,
    label_names: Sequence[str],
    input_names: Sequence[str],
    max_patches: int | None,
) -> tuple[Callable, Callable]:
    def predict_tokens(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = model({name: inputs[name] for name in input_names}, training=False)
        logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs
        return _prediction_outputs(logits, label_names)

    def predict_raw(text: tf.Tensor, waveform: tf.Tensor, waveform_length: tf.Tensor):
        inputs = {}
        if "token_ids" in input_names:
            inputs.update(preprocessor(text))
        if "audio_patches" in input_names:
            inputs["audio_patches"], inputs["audio_mask"] = batch_audio_patches(
                waveform, waveform_length, max_patches
            )
        batch_check = tf.debugging.assert_equal(
            tf.shape(text)[0],
            tf.shape(waveform)[0],
            message="text and waveform have different batch sizes.",
        )
        with tf.control_dependencies([batch_check]):
            return predict_tokens({name: inputs[name] for name in input_names})

    return predict_raw, predict_tokens


def _speaker_function(predict_tokens: Callable, preprocessor, input_names, max_patches, reference: BandStatistics):
    """`serving_speaker`: raw inputs and each clip's speaker statistics -> the outputs of `serving_tokens`."""
    reference_mean = tf.constant(reference.mean, tf.float32)
    reference_std = tf.constant(reference.std, tf.float32)

    def predict_speaker(text, waveform, waveform_length, speaker_mean, speaker_std):
        inputs = dict(preprocessor(text)) if "token_ids" in input_names else {}
        patches, inputs["audio_mask"] = batch_audio_patches(waveform, waveform_length, max_patches)
        mean, std = speaker_mean[:, tf.newaxis, tf.newaxis, :], tf.maximum(speaker_std, MIN_STD)[:, tf.newaxis, tf.newaxis, :]
        inputs["audio_patches"] = (patches - mean) / std * reference_std + reference_mean
        return predict_tokens({name: inputs[name] for name in input_names})

    return predict_speaker


def _speaker_metadata(
    reference: BandStatistics | None, statistics: str, enrolment_clips: int, max_patches: int | None
) -> dict | None:
    if reference is None:
        return None
    which = (
        f"its first {enrolment_clips} clips in utterance-id order (its enrolment set)"
        if statistics == ENROLMENT else "all of its clips"
    )
    return {
        "reference": reference.to_dict(),
        "statistics": statistics,
        "enrolment_clips": enrolment_clips,
        "how": (
            f"A speaker's statistics: the per-band mean and standard deviation (floored at {MIN_STD}) over every "
            f"frame of the log-mel patches (ser_keras.audio.waveform_to_examples, max_patches={max_patches}) of "
            f"{which}; ser_keras.serving.EmotionRecognizer.speaker_statistics computes them. Pass them as "
            f"speaker_mean and speaker_std [B, 64] to the {SPEAKER_SIGNATURE} signature, or use ser-predict "
            "--speaker-clips / a manifest with a speaker column."
        ),
    }


def _metadata(
    model, preprocessor, label_names, input_names, max_patches, speaker_normalization: dict | None
) -> dict:
    import keras_hub

    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_name": model.name,
        "label_names": list(label_names),
        "input_names": list(input_names),
        "sample_rate": params.SAMPLE_RATE,
        "max_patches": max_patches,
        "sequence_length": getattr(preprocessor, "sequence_length", None),
        "signatures": {
            "raw": RAW_SIGNATURE, "tokens": TOKENS_SIGNATURE,
            **({"speaker": SPEAKER_SIGNATURE} if speaker_normalization else {}),
        },
        SPEAKER_NORMALIZATION_KEY: speaker_normalization,
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "keras_hub": keras_hub.__version__,
        },
    }


def export_model(
    model: keras.Model,
    preprocessor,
    label_names: Sequence[str],
    export_dir: str | os.PathLike,
    version: int = 1,
    *,
    max_patches: int | None = params.DEFAULT_MAX_PATCHES,
    speaker_reference: BandStatistics | None = None,
    speaker_statistics: str = ENROLMENT,
    enrolment_clips: int = DEFAULT_ENROLMENT_CLIPS,
) -> str:
    """Writes `<export_dir>/<version>/`: a SavedModel with two signatures (three when speaker-normalised), plus side files.

    Signatures (see `ser_keras.export` for the layout and the side files):

    * `serving_default`: `text` string `[B]`, `waveform` float32 `[B, T]`
      (16 kHz mono, zero-padded), `waveform_length` int32 `[B]` ->
      `probabilities` float32 `[B, C]`, `label_id` int32 `[B]`, `label`
      string `[B]`. Tokenization and the VGGish front end run in the graph;
      masks come from the lengths.
    * `serving_tokens`: the model's own inputs (`token_ids`, `segment_ids`,
      `padding_mask`, `audio_patches` `[B, N, 96, 64]`, `audio_mask`) -> the
      same outputs.
    * `serving_speaker` (speaker-normalised models, `speaker_reference`
      given): the inputs of `serving_default` plus `speaker_mean` and
      `speaker_std` float32 `[B, 64]`, each clip's speaker statistics (the
      metadata's `speaker_normalization.how` says how to compute them) -> the
      same outputs.

    Loading it needs only `tensorflow` and `tensorflow_text` (import the
    latter first: it registers the tokenizer ops).

    Args:
        model: a raw-input model with the encoders inside, from
            `ser_keras.models.build_raw_model` (outputs a dict with `"logits"`,
            or logits alone).
        preprocessor: its keras-hub text preprocessor (e.g.
            `ser_keras.text.TranscriptPreprocessor`), saved with
            `save_to_preset` beside the SavedModel; `None` only for an
            audio-only model.
        label_names: the class names, in logit order.
        export_dir: the model's folder; TF Serving's `model_base_path`.
        version: the version subfolder (a positive integer); it must not exist yet.
        max_patches: cap on 0.96 s audio patches per clip in `serving_default`
            (`None`: no cap).
        speaker_reference: for a model trained on speaker-normalised audio,
            the reference band statistics of its training set (recorded in
            the metadata; `ser_keras.serving.EmotionRecognizer.predict` then
            takes a speaker's statistics).
        speaker_statistics: how the job drew a speaker's statistics
            (`ser_keras.data.enrolment`), recorded for the serving tools.
        enrolment_clips: the job's k, likewise.

    Returns:
        The SavedModel folder, `<export_dir>/<version>`.

    Raises:
        ValueError: a model without named raw inputs, label names that do not
            match the logits, or a bad version.
        FileExistsError: the version folder exists already.

    Example:

    >>> export_model(models.raw_model, preprocessor, ("angry", "happy", "sad", "neutral"),
    ...              "export/ser", version=2)  # doctest: +SKIP
    'export/ser/2'
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive integer (TF Serving's folder name); got {version!r}.")
    label_names = [str(name) for name in label_names]
    input_names = _check_model(model, label_names)
    if "token_ids" in input_names and preprocessor is None:
        raise ValueError("The model has text inputs: pass its text preprocessor.")
    check_speaker_statistics_mode(speaker_statistics)
    if speaker_reference is not None and "audio_patches" not in input_names:
        raise ValueError("speaker_reference is for a model that reads audio; this one does not.")
    speaker_normalization = _speaker_metadata(speaker_reference, speaker_statistics, enrolment_clips, max_patches)
    target = Path(export_dir) / str(version)
    predict_raw, predict_tokens = _serving_functions(
        model, preprocessor, label_names, input_names, max_patches
    )
    with atomic_directory(target) as staging:
        # The model is not `track`ed: the endpoints track the variables they use, once. Tracking
        # it as well would store every weight twice (as Keras and as TensorFlow variables).
        archive = keras.export.ExportArchive()
        if "token_ids" in input_names:
            preprocessor(tf.constant([""]))  # builds it, so that its vocabulary is tracked
            archive.track(preprocessor)
        archive.add_endpoint(RAW_SIGNATURE, predict_raw, input_signature=_RAW_SPECS)
        archive.add_endpoint(
            TOKENS_SIGNATURE,
            predict_tokens,
            input_signature=[{name: _INPUT_SPECS[name] for name in input_names}],
        )
        if speaker_reference is not None:
            archive.add_endpoint(
                SPEAKER_SIGNATURE,
                _speaker_function(predict_tokens, preprocessor, input_names, max_patches, speaker_reference),
                input_signature=[*_RAW_SPECS, *_SPEAKER_SPECS],
            )
        archive.write_out(str(staging), verbose=False)
        side_files = side_files_dir(staging)
        side_files.mkdir()
        model.save(side_files / KERAS_MODEL_FILE)
        if preprocessor is not None:
            preprocessor.save_to_preset(str(side_files / PREPROCESSOR_DIR))
        write_metadata(
            side_files, _metadata(model, preprocessor, label_names, input_names, max_patches, speaker_normalization)
        )
    logger.info(
        "Exported %s to %s (signatures %s).", model.name, target,
        ", ".join([RAW_SIGNATURE, TOKENS_SIGNATURE] + ([SPEAKER_SIGNATURE] if speaker_reference is not None else [])),
    )
    return str(target)


def load_tokens_signature(saved_model_dir: str | os.PathLike) -> Callable[[Mapping], np.ndarray]:
    """The `serving_tokens` signature of an export as a function: input arrays -> probabilities.

    Example:

    >>> probabilities = load_tokens_signature("export/ser")(inputs)  # doctest: +SKIP
    >>> probabilities.shape  # doctest: +SKIP
    (1, 4)
    """
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops of the other signature)

    signature = tf.saved_model.load(str(find_saved_model(saved_model_dir))).signatures[TOKENS_SIGNATURE]

    def probabilities(inputs: Mapping) -> np.ndarray:
        tensors = {name: tf.constant(value) for name, value in inputs.items()}
        return signature(**tensors)["probabilities"].numpy()

    return probabilities
