"""One trained model's Table II row: scores on validation and test, parameters, batch-1 latency.

`score_models` scores a fold's models in turn (`_score_model`). Each model's
test predictions go to `<run>/predictions/<model>_test.csv`, its test
confusion matrix to `<run>/confusion/`, its scores, confusion matrices and
hyperparameters to TensorBoard (`_write_evaluation`); its parameters come from
the Table I rows (`_parameter_rows`) or `component_parameters`, its latency from
`LatencyMeasurer` (the full model, audio encoder inside, on test clips' inputs
made as the exports' are, `ser_keras.export.inputs`).

Example:

>>> rows = score_models(fold, {"teacher": teacher}, teacher_text_encoder)  # doctest: +SKIP
>>> rows[0].name  # doctest: +SKIP
'BERT_6-AudioCNN (teacher)'
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence

import keras
import tensorflow as tf

from ser_keras.audio import load_audio
from ser_keras.experiment.context import FoldContext
from ser_keras.experiment.trainer import TrainedModel
from ser_keras.export.inputs import (
    MODEL_INPUT_NAMES,
    TEXT_INPUT_NAMES,
    clip_model_inputs,
)
from ser_keras.latency import measure_latency
from ser_keras.models import build_raw_model, component_parameters, parameter_table
from ser_keras.models.fusion import AUDIO_EMBEDDINGS
from ser_keras.reporting import TABLE_METRICS, ModelResult, compact_student_label
from ser_keras.training import predicts_one_class, save_confusion_matrix_png
from ser_keras.training.metrics import confusion_matrix_png
from ser_keras.training.tensorboard import log_confusion_matrix, log_hparams, log_scores

logger = logging.getLogger(__name__)


def score_models(
    fold: FoldContext, trained: dict[str, TrainedModel], teacher_text_encoder: keras.Model | None
) -> list[ModelResult]:
    """The Table II rows of a fold's models, in the order of `trained`."""
    rows = _parameter_rows(fold, teacher_text_encoder)
    measurer = LatencyMeasurer(fold)
    return [_score_model(fold, key, model, rows, measurer) for key, model in trained.items()]


class LatencyMeasurer:
    """Batch-1 latency of full models (audio encoder inside), on the fold's first test clips.

    The inputs of each clip are the exports' (`clip_model_inputs`): tokens,
    and with audio the clip's log-mel patches as decoded from its file (not
    speaker-normalised; the latency does not depend on the values).
    """

    def __init__(self, fold: FoldContext):
        config = fold.config
        self.audio_encoder = fold.audio.encoder if fold.audio else None
        self.runs = config.latency_runs
        input_names = MODEL_INPUT_NAMES if self.audio_encoder is not None else TEXT_INPUT_NAMES
        usable = [item for item in fold.splits.test if item.has_audio or self.audio_encoder is None]
        self.samples = []
        for item in usable[: max(1, min(self.runs, 20))]:
            waveform = load_audio(item.audio_path) if self.audio_encoder is not None else None
            inputs = clip_model_inputs(
                fold.job.preprocessor, waveform, item.text or "", input_names, config.data.max_patches
            )
            self.samples.append({key: tf.constant(value) for key, value in inputs.items()})

    def full_model(self, trained: TrainedModel) -> keras.Model:
        models = trained.models
        audio_encoder = trained.audio.encoder if trained.audio is not None else self.audio_encoder
        return build_raw_model(models.head, models.text_encoder, audio_encoder, name=f"{trained.name}_full")

    def latency_ms(self, trained: TrainedModel) -> float | None:
        if not self.samples or self.runs < 1:
            return None
        model = self.full_model(trained)
        signature = {
            key: tf.TensorSpec([1, *tensor.shape[1:]], tensor.dtype) for key, tensor in model.input.items()
        }
        predict = tf.function(lambda inputs: model(inputs, training=False)["logits"], input_signature=[signature])
        samples = [{key: sample[key] for key in signature} for sample in self.samples]
        return measure_latency(predict, samples, warmup=3, repeats=self.runs)["median_ms"]


def _parameter_rows(fold: FoldContext, teacher_text_encoder: keras.Model | None) -> dict:
    """Table I rows (parameters by component) of the teacher and the layer students, by layer count."""
    if teacher_text_encoder is None:
        return {}
    layer_counts = {int(teacher_text_encoder.num_layers), *fold.config.model.student_layers}
    rows = parameter_table(
        teacher_text_encoder,
        layer_counts=sorted(layer_counts, reverse=True),
        vggish_parameters=fold.audio.encoder.count_params() if fold.audio else 0,
        num_classes=len(fold.label_names),
    )
    return {row.num_text_layers: row for row in rows}


def _display_name(key: str, model: TrainedModel, audio_label: str | None = "VGGish") -> str:
    """The Table II name: `BERT_k-VGGish + KD`, `BERT_2x128-AudioCNN (compact)`, ..."""
    if model.kind != "layers":
        width = model.models.text_encoder.hidden_dim if model.models.text_encoder is not None else 0
        name = compact_student_label(model.kind, model.text_layers, width, audio_label)
    else:
        name = "-".join(([f"BERT_{model.text_layers}"] if model.text_layers else []) + ([audio_label] if audio_label else []))
    if key == "teacher":
        return f"{name} (teacher)"
    return name + (" + KD" if model.distilled else "")


def _score_model(
    fold: FoldContext, key: str, model: TrainedModel, parameter_rows: dict, measurer: LatencyMeasurer
) -> ModelResult:
    """One model's Table II row: scores on validation and test, parameters, latency; its plots and logs."""
    scores = {split: fold.trainer.evaluate(model, getattr(fold.splits, split)) for split in ("validation", "test")}
    own_audio = model.audio or fold.audio
    display = _display_name(key, model, own_audio.label if own_audio else None)
    _write_evaluation(fold, key, model, display, scores)
    row = parameter_rows.get(model.text_layers) if model.kind == "layers" else None
    reads_audio = own_audio is not None and AUDIO_EMBEDDINGS in model.models.head.input
    params = row.to_dict() if row else component_parameters(
        model.models.head, model.models.text_encoder, own_audio.encoder if reads_audio else None
    )
    collapsed = predicts_one_class(scores["validation"]["confusion_matrix"])
    if collapsed:
        logger.warning(
            "%s collapsed: every validation prediction is one class. Its scores are chance-level; "
            "see docs/RESULTS.md (collapse guard) for what to change.", display,
        )
    logger.info(
        "%s: validation acc %.4f, test acc %.4f", display, scores["validation"]["scores"]["acc"],
        scores["test"]["scores"]["acc"],
    )
    fidelity = model.audio.record.get("fidelity") if model.audio is not None else None
    return ModelResult(
        name=display,
        text_layers=model.text_layers,
        distilled=model.distilled,
        params=params,
        latency_ms=measurer.latency_ms(model),
        validation=scores["validation"]["scores"],
        test=scores["test"]["scores"],
        role="teacher" if key == "teacher" else "student",
        collapsed=collapsed,
        extra={
            "model_key": key,
            "student_kind": model.kind,
            "audio_encoder": own_audio.kind if own_audio else None,
            "stages": {k: {"best_epoch": v["best_epoch"] + 1} for k, v in model.stages.items()},
            **({"audio_fidelity": fidelity} if fidelity else {}),
        },
    )


def _write_evaluation(fold: FoldContext, key: str, model: TrainedModel, display: str, scores: dict) -> None:
    """A model's test predictions and confusion-matrix PNG, and its scores, confusion matrices and hyperparameters in TensorBoard."""
    config, label_names = fold.config, fold.label_names
    confusion_dir = os.path.join(config.run_dir, "confusion")
    os.makedirs(confusion_dir, exist_ok=True)
    suffix = "" if fold.name == "main" else f"_{fold.name}"
    _write_predictions(os.path.join(config.run_dir, "predictions", f"{key}{suffix}_test.csv"), fold.splits.test, scores["test"])
    save_confusion_matrix_png(
        scores["test"]["confusion_matrix"], label_names, os.path.join(confusion_dir, f"{key}{suffix}_test.png"),
        title=f"{display}: test",
    )
    evaluation_dir = os.path.join(fold.log_dir, key, "evaluation")
    for split in ("validation", "test"):
        png = confusion_matrix_png(scores[split]["confusion_matrix"], label_names, title=f"{display}: {split}")
        log_confusion_matrix(evaluation_dir, f"confusion/{split}", png)
    flat_scores = {
        f"{split}/{metric}": scores[split]["scores"][metric] for split in ("validation", "test") for metric in TABLE_METRICS
    }
    log_scores(evaluation_dir, flat_scores)
    distillation = config.recipe.distillation
    log_hparams(
        os.path.join(fold.log_dir, "hparams", key),
        {
            "model": key,
            "text_layers": model.text_layers,
            "distilled": model.distilled,
            "alpha": distillation.alpha if model.distilled else 0.0,
            "temperature": distillation.temperature if model.distilled else 0.0,
            "recipe": config.recipe.name,
            "batch_size": config.recipe.batch_size,
        },
        flat_scores,
    )


def _write_predictions(path: str, items: Sequence, scores: dict) -> None:
    """A model's predicted label of each scored clip: `utterance_id,label,predicted_label`."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    predictions = scores["predictions"]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["utterance_id", "label", "predicted_label"])
        writer.writerows([item.utterance_id, item.label, predictions[item.utterance_id]]
                         for item in items if item.utterance_id in predictions)
