"""TensorBoard extras beyond Keras' `TensorBoard` callback.

Keras' callback writes every epoch log (each loss part, the validation
metrics, the learning rate). This module adds what a run also needs: confusion
matrix images, the final results table as text, and an hparams table that puts
the teacher and every student side by side.

Layout under one run directory (`tensorboard --logdir <run>/tensorboard`):

    <model>/train, <model>/validation   Keras' scalars per model and stage
    <model>/evaluation                  confusion matrices, final scores
    hparams/<model>                     one hparams session per model
    summary                             the results table (text)

Example:

>>> log_confusion_matrix("runs/demo/tensorboard/teacher/evaluation", "test", png, step=0)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api


def log_confusion_matrix(log_dir: str | os.PathLike, tag: str, png: bytes, step: int = 0) -> None:
    """Writes a PNG (e.g. from `confusion_matrix_png`) as an image summary.

    Example:

    >>> log_confusion_matrix("logs/teacher/evaluation", "confusion/test", png)  # doctest: +SKIP
    """
    image = tf.io.decode_png(png, channels=4)[tf.newaxis]
    with tf.summary.create_file_writer(os.fspath(log_dir)).as_default():
        tf.summary.image(tag, image, step=step)


def log_scores(log_dir: str | os.PathLike, scores: Mapping[str, float], step: int = 0) -> None:
    """Writes final scores (e.g. `{"test/acc": 0.8}`) as scalars.

    Example:

    >>> log_scores("logs/teacher/evaluation", {"test/acc": 0.81})  # doctest: +SKIP
    """
    with tf.summary.create_file_writer(os.fspath(log_dir)).as_default():
        for name, value in scores.items():
            tf.summary.scalar(name, float(value), step=step)


def log_text(log_dir: str | os.PathLike, tag: str, markdown: str, step: int = 0) -> None:
    """Writes markdown (e.g. the results table) to TensorBoard's Text tab.

    Example:

    >>> log_text("logs/summary", "results", "| a | b |\\n|---|---|\\n| 1 | 2 |")  # doctest: +SKIP
    """
    with tf.summary.create_file_writer(os.fspath(log_dir)).as_default():
        tf.summary.text(tag, markdown, step=step)


def log_hparams(
    log_dir: str | os.PathLike,
    hparams: Mapping[str, bool | int | float | str],
    scores: Mapping[str, float],
) -> None:
    """Writes one hparams session: the model's settings and its final scores.

    Call it once per model with `log_dir = <tensorboard>/hparams/<model>`; the
    HParams tab then lists all models in one table.

    Example:

    >>> log_hparams("logs/hparams/student_k2_kd", {"text_layers": 2, "distilled": True},
    ...             {"test/acc": 0.78})  # doctest: +SKIP
    """
    with tf.summary.create_file_writer(os.fspath(log_dir)).as_default():
        hparams_api.hparams(dict(hparams), trial_id=os.path.basename(os.fspath(log_dir)))
        for name, value in scores.items():
            tf.summary.scalar(name, float(value), step=0)
