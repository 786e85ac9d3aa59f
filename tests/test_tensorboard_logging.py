"""The TensorBoard extras write event files that TensorBoard reads back."""

import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ser_keras.training.metrics import confusion_matrix_png
from ser_keras.training.tensorboard import log_confusion_matrix, log_hparams, log_scores, log_text


def _load(log_dir):
    accumulator = EventAccumulator(str(log_dir), size_guidance={"tensors": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def test_confusion_matrix_scores_text_and_hparams_reload(tmp_path):
    png = confusion_matrix_png(np.array([[5, 1], [2, 7]]), ["sad", "happy"])
    log_confusion_matrix(tmp_path / "evaluation", "confusion/test", png)
    log_scores(tmp_path / "evaluation", {"test/acc": 0.75})
    log_text(tmp_path / "summary", "results", "| model | acc |\n|---|---|\n| teacher | 75.00 |")
    log_hparams(tmp_path / "hparams" / "teacher", {"text_layers": 6, "distilled": False}, {"test/acc": 0.75})

    evaluation = _load(tmp_path / "evaluation")
    assert "confusion/test" in evaluation.Tags()["tensors"]
    image_tensor = evaluation.Tensors("confusion/test")[0].tensor_proto
    assert image_tensor.string_val[2][:4] == b"\x89PNG"  # width, height, then the PNG
    score = tf.make_ndarray(evaluation.Tensors("test/acc")[0].tensor_proto)
    assert abs(float(score) - 0.75) < 1e-6

    summary = _load(tmp_path / "summary")
    text = tf.make_ndarray(summary.Tensors("results")[0].tensor_proto).item().decode()
    assert "| teacher | 75.00 |" in text

    hparams = _load(tmp_path / "hparams" / "teacher")
    assert "_hparams_/session_start_info" in hparams.Tags()["tensors"]
    plugin_data = hparams.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    assert b"text_layers" in plugin_data
    assert abs(float(tf.make_ndarray(hparams.Tensors("test/acc")[0].tensor_proto)) - 0.75) < 1e-6
