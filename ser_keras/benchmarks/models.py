"""The models a benchmark measures: the teacher and its students, with their text preprocessor.

Latency does not depend on the weights, so the paper's BERT-base models are
built from the `bert_base_en_uncased` architecture with random weights
(nothing is downloaded) and tokenized with the offline MiniLM vocabulary,
which is BERT-base-uncased's own 30,522-token WordPiece vocabulary. Any other
preset (the default MiniLM, a local directory) loads as the training job loads it.

Example:

>>> models = build_benchmark_models(None, None, (4, 2, 1), build_vggish(), num_classes=4)  # doctest: +SKIP
>>> [model.label for model in models]  # doctest: +SKIP
['BERT_6-VGGish (teacher)', 'BERT_4-VGGish', 'BERT_2-VGGish', 'BERT_1-VGGish']
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import keras

from ser_keras.models import SERModels, build_ser_models
from ser_keras.models.params import BERT_BASE_ARCHITECTURE
from ser_keras.text import BERT_BASE_PRESET, load_text_encoder, load_text_preprocessor

logger = logging.getLogger(__name__)


@dataclass
class BenchmarkModel:
    """One measured model: a teacher or a student, with the audio encoder inside its raw model.

    Example:

    >>> model.key, model.text_layers  # doctest: +SKIP
    ('student_k2', 2)
    """

    key: str
    label: str
    role: str
    text_layers: int
    models: SERModels
    kind: str = "layers"

    @property
    def audio_encoder(self) -> keras.Model | None:
        """Its per-patch audio encoder (`None`: a text-only model)."""
        return self.models.audio_encoder

    @property
    def raw_model(self) -> keras.Model:
        """Token ids and audio patches in, `{"logits", "text_features"}` out."""
        return self.models.raw_model


def _text_encoder(preset: str | os.PathLike | None, num_layers: int | None) -> keras.Model:
    if preset == BERT_BASE_PRESET:
        import keras_hub

        architecture = dict(BERT_BASE_ARCHITECTURE)
        if num_layers is not None:
            architecture["num_layers"] = num_layers
        return keras_hub.models.BertBackbone(**architecture)
    return load_text_encoder(preset, num_layers)


def benchmark_preprocessor(preset: str | os.PathLike | None, sequence_length: int):
    """The tokenizer of `preset`; MiniLM's (the same vocabulary) for `bert_base_en_uncased`.

    Example:

    >>> benchmark_preprocessor(None, 48)(["Hi."])["token_ids"].shape  # doctest: +SKIP
    TensorShape([1, 48])
    """
    if preset == BERT_BASE_PRESET:
        logger.info(
            "%s: random weights from its architecture; tokenized with the offline MiniLM "
            "vocabulary (BERT-base-uncased's WordPiece vocabulary).",
            BERT_BASE_PRESET,
        )
        preset = None
    return load_text_preprocessor(preset, sequence_length)


def model_label(text_layers: int, teacher: bool) -> str:
    """The display name of a model, as in the job's results.

    Example:

    >>> model_label(6, teacher=True)
    'BERT_6-VGGish (teacher)'
    """
    return f"BERT_{text_layers}-VGGish" + (" (teacher)" if teacher else "")


def build_benchmark_models(
    text_preset: str | os.PathLike | None,
    teacher_layers: int | None,
    student_layers: Sequence[int],
    audio_encoder: keras.Model,
    num_classes: int,
    compact_students: Sequence[str] = (),
) -> list[BenchmarkModel]:
    """Builds the teacher (first) and each student; all but the compact ones share `audio_encoder`.

    Args:
        text_preset: the teacher's BERT (`None`: offline MiniLM;
            `"bert_base_en_uncased"`: its architecture, random weights).
        teacher_layers: the teacher's layers (`None`: all of the preset's).
        student_layers: each student's layers (the teacher's first k).
        audio_encoder: the per-patch audio encoder (VGGish).
        num_classes: classifier outputs.
        compact_students: named compact students (`COMPACT_STUDENTS`), with
            the compact audio CNN instead of `audio_encoder` (random weights:
            latency does not depend on them).

    Raises:
        ValueError: a student with more layers than the teacher.

    Example:

    >>> models = build_benchmark_models(None, None, (2,), build_vggish(), 4)  # doctest: +SKIP
    """
    teacher_encoder = _text_encoder(text_preset, teacher_layers)
    depth = int(teacher_encoder.num_layers)
    too_deep = [k for k in student_layers if not 1 <= k <= depth]
    if too_deep:
        raise ValueError(f"Student layers {too_deep} are outside 1..{depth}, the teacher's depth.")
    encoders = [("teacher", depth, teacher_encoder)]
    encoders += [(f"student_k{k}", k, _text_encoder(text_preset, k)) for k in student_layers]
    models = [
        BenchmarkModel(
            key=key,
            label=model_label(layers, key == "teacher"),
            role="teacher" if key == "teacher" else "student",
            text_layers=layers,
            models=build_ser_models(encoder, audio_encoder, num_classes=num_classes, name=key),
        )
        for key, layers, encoder in encoders
    ]
    return models + [_compact_model(kind, teacher_encoder, num_classes) for kind in compact_students]


def _compact_model(kind: str, teacher_encoder: keras.Model, num_classes: int) -> BenchmarkModel:
    from ser_keras.models.audio_cnn import build_compact_audio_encoder
    from ser_keras.reporting import compact_student_label
    from ser_keras.text.narrow import build_narrow_text_encoder, compact_text_spec

    audio_encoder = build_compact_audio_encoder()
    key = kind.replace("-", "_")
    if kind == "audio-compact":
        models = build_ser_models(None, audio_encoder, num_classes=num_classes, pooling="mean", modality="audio",
                                  name=key)
        label = compact_student_label(kind, 0, 0, "AudioCNN")
    else:
        text_encoder = build_narrow_text_encoder(teacher_encoder, compact_text_spec(teacher_encoder))
        models = build_ser_models(text_encoder, audio_encoder, num_classes=num_classes, name=key)
        label = compact_student_label(kind, text_encoder.num_layers, text_encoder.hidden_dim, "AudioCNN")
    layers = int(models.text_encoder.num_layers) if models.text_encoder is not None else 0
    return BenchmarkModel(key=key, label=label, role="student", text_layers=layers, models=models, kind=kind)
