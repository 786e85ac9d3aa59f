"""Which inputs a model reads, and how its fused sequence is pooled: the choices, defined once.

Keras-free, so that the job configuration (`ser_keras.config`) and the
models (`ser_keras.models.fusion`, `ser_keras.models.layers`) share one
spelling of each choice.

Example:

>>> uses_text("multimodal"), uses_audio("text"), default_pooling("audio")
(True, False, 'mean')
"""

from __future__ import annotations

#: Which inputs a model fuses: both (3M-SER), or one of them (unimodal baselines and the audio-only student).
MODALITIES = ("multimodal", "text", "audio")

#: Pooling modes of the fused sequence: its first position ([CLS]), or a masked mean or max.
POOLING_MODES = ("cls", "mean", "max")


def check_modality(modality: str) -> None:
    """Raises `ValueError` naming the valid choices unless `modality` is one of `MODALITIES`.

    Example:

    >>> check_modality("video")
    Traceback (most recent call last):
    ...
    ValueError: modality must be one of ('multimodal', 'text', 'audio'); got 'video'.
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}; got {modality!r}.")


def uses_text(modality: str) -> bool:
    """Whether a modality setting includes the text branch.

    Example:

    >>> uses_text("audio")
    False
    """
    check_modality(modality)
    return modality in ("multimodal", "text")


def uses_audio(modality: str) -> bool:
    """Whether a modality setting includes the audio branch.

    Example:

    >>> uses_audio("multimodal")
    True
    """
    check_modality(modality)
    return modality in ("multimodal", "audio")


def default_pooling(modality: str) -> str:
    """The fused-sequence pooling for a modality: the text's [CLS] position, else the mean.

    Example:

    >>> default_pooling("multimodal"), default_pooling("audio")
    ('cls', 'mean')
    """
    return "cls" if uses_text(modality) else "mean"
