"""What the distillation job reads once, before its first fold: the `JobContext` every fold shares.

`read_job_inputs` reads the corpus and makes its folds (`<run>/splits.csv`),
loads the tokenizer (counting the transcripts it cuts), computes every clip's
log-mel patches once (and those of `--unlabelled-audio`), digests the data
that names the saved models' folders (and logs whether they are reused), and
builds the frozen VGGish shared by the folds.

Example:

>>> job = read_job_inputs(DistillJobConfig(), "saved_models/demo/tensorboard")  # doctest: +SKIP
>>> [name for name, _ in job.folds]  # doctest: +SKIP
['main']
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence

import keras
import tensorflow as tf

from ser_keras.config import LAST_EPOCH, DistillJobConfig
from ser_keras.data import Corpus, EncoderCache, Splits
from ser_keras.data.unlabelled import read_unlabelled_audio, without_corpus_clips
from ser_keras.experiment.audio_stage import build_audio_encoder
from ser_keras.experiment.context import JobContext, student_root, teacher_root
from ser_keras.experiment.data import check_corpus_modalities, job_folds, load_corpus
from ser_keras.experiment.reuse import (
    data_digest,
    explain_reuse,
    extended_digest,
    record_settings,
)
from ser_keras.models.fusion import uses_audio, uses_text
from ser_keras.text import load_text_preprocessor
from ser_keras.text.tokenizer import count_truncated
from ser_keras.training import get_strategy

logger = logging.getLogger(__name__)


def read_job_inputs(config: DistillJobConfig, log_dir: str) -> JobContext:
    """The job's inputs, read in this order: corpus and folds, tokenizer, audio, data digests, frozen VGGish."""
    strategy = get_strategy()
    corpus, folds = _read_corpus(config)
    cache = EncoderCache(os.path.join(config.output_dir, "cache"))
    preprocessor = _text_preprocessor(config, folds)
    patches, unlabelled, unlabelled_speakers = None, {}, {}
    if uses_audio(config.model.modality):
        patches = cache.log_mel_patches(
            _all_items(folds), skip_report=corpus.skip_report, max_patches=config.data.max_patches
        )
        logger.info("Audio encoder: %s.", config.model.audio_encoder_kind)
        unlabelled, unlabelled_speakers = _unlabelled_audio(config, cache, corpus.skip_report, patches)
    digest = data_digest(folds, patches)
    students_digest = extended_digest(digest, unlabelled)  # the students also learn from the unlabelled clips
    _log_reuse(config, digest, students_digest)
    return JobContext(
        config=config, corpus=corpus, folds=folds, cache=cache, preprocessor=preprocessor, strategy=strategy,
        log_dir=log_dir, patches=patches, unlabelled_patches=unlabelled, unlabelled_speakers=unlabelled_speakers,
        digest=digest, students_digest=students_digest, frozen_vggish=_frozen_vggish(config, strategy),
    )


def _read_corpus(config: DistillJobConfig) -> tuple[Corpus, list[tuple[str, Splits]]]:
    """The corpus, checked against the modality, and its folds, written to `<run>/splits.csv`.

    Warns when every fold would choose its epochs on one validation speaker
    (`_warn_on_one_speaker_selection`).
    """
    corpus = load_corpus(config.data)
    check_corpus_modalities(corpus, config.model.modality)
    folds = job_folds(corpus, config.data)
    _write_splits(folds, os.path.join(config.run_dir, "splits.csv"))
    _warn_on_one_speaker_selection(folds, config.recipe.selection_metric)
    return corpus, folds


def _warn_on_one_speaker_selection(folds: Sequence[tuple[str, Splits]], selection_metric: str) -> None:
    """A warning when every fold would choose its epochs by a validation metric of one speaker's clips.

    Example (leave-one-speaker-out on a corpus, epochs chosen by validation accuracy):

    >>> _warn_on_one_speaker_selection(speaker_folds(corpus.utterances), "val_acc")  # doctest: +SKIP
    """
    if selection_metric == LAST_EPOCH or not folds:
        return
    speakers = [{item.speaker for item in splits.validation} for _, splits in folds]
    if not all(len(names) == 1 and None not in names for names in speakers):
        return
    clips = [len(splits.validation) for _, splits in folds]
    logger.warning(
        "Every fold validates on one speaker (%d to %d clips): choosing each stage's epoch by its %s fits "
        "that speaker and inflates the validation scores. --selection last keeps each stage's final epoch "
        "instead (README, 'Choosing on one validation speaker'; docs/RESULTS.md, EmoDB).",
        min(clips), max(clips), selection_metric,
    )


def _write_splits(folds: Sequence[tuple[str, Splits]], path: str) -> None:
    """`splits.csv`: `utterance_id,fold,split` of every item the job uses (the same for every --seed)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["utterance_id", "fold", "split"])
        for fold_name, splits in folds:
            for split_name, items in splits._asdict().items():
                writer.writerows([item.utterance_id, fold_name, split_name] for item in items)


def _text_preprocessor(config: DistillJobConfig, folds: Sequence[tuple[str, Splits]]):
    """The teacher's tokenizer; with text, the transcripts it cuts are counted in the log."""
    preprocessor = load_text_preprocessor(config.model.text_preset, config.data.sequence_length)
    if uses_text(config.model.modality):
        _log_truncation(preprocessor, folds)
    return preprocessor


def _log_truncation(preprocessor, folds: Sequence[tuple[str, Splits]]) -> None:
    """Logs, per split, how many transcripts are longer than the sequence length (and so cut)."""
    for fold_name, splits in folds:
        counts = {
            name: (count_truncated(preprocessor, [item.text for item in items]), len(items))
            for name, items in splits._asdict().items()
        }
        message = ", ".join(f"{name} {cut} of {total}" for name, (cut, total) in counts.items())
        cut_any = any(cut for cut, _ in counts.values())
        logger.log(
            logging.WARNING if cut_any else logging.INFO,
            "Transcripts longer than %d tokens, cut%s: %s.%s", preprocessor.sequence_length,
            "" if fold_name == "main" else f" ({fold_name})", message,
            " Raise --sequence-length to keep them whole." if cut_any else "",
        )


def _all_items(folds: Sequence[tuple[str, Splits]]) -> list:
    """Every item of every fold, once, in the order the folds first list them."""
    seen, items = set(), []
    for _, splits in folds:
        for item in [*splits.train, *splits.validation, *splits.test]:
            if item.utterance_id not in seen:
                seen.add(item.utterance_id)
                items.append(item)
    return items


def _unlabelled_audio(
    config: DistillJobConfig, cache: EncoderCache, skip_report, corpus_patches: dict
) -> tuple[dict, dict]:
    """`--unlabelled-audio`: its clips' log-mel patches and speakers (`({}, {})` without it).

    Clips whose audio is also a corpus clip's (`corpus_patches`) are left out and counted in the log.
    """
    if not config.data.unlabelled_audio:
        return {}, {}
    clips = read_unlabelled_audio(config.data.unlabelled_audio, skip_report=skip_report)
    patches, overlapping = without_corpus_clips(
        cache.log_mel_patches(clips, skip_report=skip_report, max_patches=config.data.max_patches), corpus_patches
    )
    if overlapping:
        logger.warning(
            "Unlabelled audio %s: %d clips are also clips of the corpus (same audio), left out so that no "
            "validation or test clip is learned from (first: %s).",
            config.data.unlabelled_audio, len(overlapping), ", ".join(overlapping[:5]),
        )
    logger.info(
        "Unlabelled audio %s: %d clips (%d patches) for the compact students' audio encoder.",
        config.data.unlabelled_audio, len(patches), sum(len(value) for value in patches.values()),
    )
    return patches, {clip.utterance_id: clip.speaker for clip in clips}


def _log_reuse(config: DistillJobConfig, digest: str, students_digest: str) -> None:
    """Says whether the saved teacher and students can be reused, and records this job's settings for later jobs."""
    for kind, root, teacher_only, folder_digest in (
        ("teacher", teacher_root(config), True, digest), ("students", student_root(config), False, students_digest)
    ):
        fingerprint = config.teacher_fingerprint() if teacher_only else config.training_fingerprint()
        fields = config.fingerprint_fields(teacher_only)
        logger.info(explain_reuse(kind, root, fingerprint, fields, folder_digest))
        record_settings(root, fingerprint, fields)


def _frozen_vggish(config: DistillJobConfig, strategy: tf.distribute.Strategy) -> keras.Model | None:
    """With `--audio-encoder vggish`, the one frozen VGGish of every fold; else `None` (each fold trains its own)."""
    if not (uses_audio(config.model.modality) and config.model.audio_encoder_kind == "vggish"):
        return None
    with strategy.scope():
        return build_audio_encoder(config.model)
