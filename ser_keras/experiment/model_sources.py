"""The job's pretrained model sources, checked when it starts: `--text-preset` and `--vggish-weights`.

The job loads the text-encoder preset (its tokenizer first, its BERT for each
teacher and student) and the VGGish weights only after reading and splitting
the data, and a student's BERT only after the teacher has trained. A source that
cannot be used would then stop it with a traceback, after minutes or hours of
work. `check_model_sources` looks at each source before anything else: the
preset resolves, its `config.json` describes a BERT backbone with enough
layers for `--teacher-layers` and `--students`, its tokenizer loads; the VGGish
source holds every original variable with its shape. Whatever is wrong raises a
`ModelSourceError` whose one-line message names the flag, its value, what is
wrong and what to do; the job commands turn it into `<program>: error: ...` and
exit status 2, as for bad data (`ser_keras.experiment.cli.USER_ERRORS`).

Example:

>>> check_model_sources(DistillJobConfig(model=ModelConfig(vggish_weights="no/such.ckpt")))  # doctest: +SKIP
Traceback (most recent call last):
ModelSourceError: --vggish-weights no/such.ckpt: no such file or directory; pass a TF-Hub handle ...
"""

from __future__ import annotations

import logging

from ser_keras.config import DistillJobConfig
from ser_keras.modalities import uses_audio, uses_text

logger = logging.getLogger(__name__)


class ModelSourceError(ValueError):
    """A `--text-preset` or `--vggish-weights` (or a layer count) the job cannot use; the message names the flag.

    Example:

    >>> str(ModelSourceError("--vggish-weights x.ckpt: no such file or directory."))
    '--vggish-weights x.ckpt: no such file or directory.'
    """


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def check_model_sources(config: DistillJobConfig) -> None:
    """Checks the job's text-encoder preset and VGGish weights before any work (see the module's doc).

    The preset is checked for every job (its tokenizer is loaded even for
    audio-only models), the layer counts when the models read text, the
    VGGish weights when a VGGish audio encoder reads audio.

    Raises:
        ModelSourceError: naming the flag and its value, what is wrong and what to do.

    Example:

    >>> check_model_sources(DistillJobConfig())  # the offline MiniLM, no VGGish weights  # doctest: +SKIP
    """
    model = config.model
    num_layers = _checked_text_preset(model.text_preset)
    if uses_text(model.modality) and num_layers is not None:
        _check_layer_counts(model.text_preset, num_layers, model.teacher_layers, model.student_layers)
    if model.vggish_weights and uses_audio(model.modality) and model.audio_encoder_kind != "compact":
        _check_vggish_weights(model.vggish_weights)


def _preset_flag(preset: str | None) -> str:
    return f"--text-preset {preset}" if preset is not None else "--text-preset (not given: the offline MiniLM)"


def _checked_text_preset(preset: str | None) -> int | None:
    """The preset's layer count, after `check_text_preset`; its errors as `ModelSourceError`."""
    from ser_keras.text.presets import TextPresetError, check_text_preset

    try:
        num_layers = check_text_preset(preset)
    except TextPresetError as error:
        raise ModelSourceError(_one_line(f"{_preset_flag(preset)}: {error}")) from error
    logger.info(
        "Text-encoder preset %s: a BERT backbone%s, its tokenizer loads.",
        preset if preset is not None else "(offline MiniLM)",
        f" of {num_layers} layers" if num_layers is not None else "",
    )
    return num_layers


def _check_layer_counts(
    preset: str | None, available: int, teacher_layers: int | None, student_layers: tuple[int, ...]
) -> None:
    """`--teacher-layers` and `--students` ask for no more layers than the preset has."""
    named = f"text-encoder preset {preset!r}" if preset is not None else "the offline MiniLM"
    if teacher_layers is not None and teacher_layers > available:
        raise ModelSourceError(
            f"--teacher-layers {teacher_layers}: {named} has {available} transformer layers; pass at most "
            f"{available}, or leave --teacher-layers out to use all of them."
        )
    too_many = [layers for layers in student_layers if layers > available]
    if too_many:
        raise ModelSourceError(
            f"--students {','.join(map(str, too_many))}: a student keeps the first k transformer layers of the "
            f"teacher's BERT, and {named} has {available}; pass layer counts from 1 to {available}."
        )


def _check_vggish_weights(source: str) -> None:
    """`check_vggish_weights`, its errors as `ModelSourceError`."""
    from ser_keras.vggish.weights import VGGishWeightsError, check_vggish_weights

    try:
        check_vggish_weights(source)
    except VGGishWeightsError as error:
        raise ModelSourceError(_one_line(f"--vggish-weights {source}: {error.reason}")) from error
    logger.info("VGGish weights %s: every original variable, with its shape.", source)
