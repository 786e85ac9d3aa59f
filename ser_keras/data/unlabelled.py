"""Unlabelled audio: extra clips for the audio student's embedding distillation.

Reproducing the teacher's audio embeddings needs no label, so a user with more
speech than labelled speech can give it to the compact students' audio encoder
(`--unlabelled-audio`). The source is either

* a folder: every audio file under it (`.wav`, `.flac`, `.ogg`, any depth), or
* a CSV with a `path` column (relative to the CSV's folder, or absolute) and
  an optional `speaker` column.

Clips get the utterance ids `unlabelled:<path>`, so they never collide with a
corpus's ids, and an empty label. Without a speaker, each clip counts as its
own speaker for speaker normalisation (each clip is standardised by its own
band statistics). Missing files are skipped and listed in the skip report
(a strict report raises); corrupt ones are found when they are decoded, like the
corpus's. Clips whose audio is also a corpus clip's are left out by the job
(`without_corpus_clips`), so that no validation or test clip is learned from.

Example:

>>> clips = read_unlabelled_audio("more_speech/")  # doctest: +SKIP
>>> clips[0].utterance_id, clips[0].label  # doctest: +SKIP
('unlabelled:spk1/0001.wav', '')
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ser_keras.data.errors import DatasetError
from ser_keras.data.records import Utterance
from ser_keras.data.skip_report import SkipReport

#: The audio files a folder source contributes (what soundfile decodes).
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg")
#: The prefix of every unlabelled clip's utterance id.
UNLABELLED_PREFIX = "unlabelled:"


def read_unlabelled_audio(source: str | os.PathLike, *, skip_report: SkipReport | None = None) -> list[Utterance]:
    """The clips of a folder or CSV of unlabelled audio, in a stable (sorted or file) order.

    Args:
        source: a folder of audio files, or a CSV with a `path` (and optional
            `speaker`) column.
        skip_report: where CSV rows whose file is missing are listed (a strict
            report raises instead).

    Raises:
        DatasetError: when the source does not exist, the CSV has no `path`
            column or an empty `path` field, or no clip is left.

    Example:

    >>> read_unlabelled_audio("speech.csv", skip_report=SkipReport(strict=True))  # doctest: +SKIP
    """
    source = Path(source)
    if source.is_dir():
        clips = _folder_clips(source)
    elif source.is_file():
        clips = _csv_clips(source, skip_report if skip_report is not None else SkipReport())
    else:
        raise DatasetError(
            f"--unlabelled-audio '{source}' does not exist: give a folder of audio files or a CSV with a 'path' column."
        )
    if not clips:
        raise DatasetError(
            f"--unlabelled-audio '{source}' holds no usable audio ({', '.join(AUDIO_EXTENSIONS)} files)."
        )
    return clips


def _unlabelled(relative: str, path: Path, speaker: str | None) -> Utterance:
    utterance_id = UNLABELLED_PREFIX + relative
    return Utterance(utterance_id, "", "", audio_path=str(path), speaker=speaker or utterance_id)


def _folder_clips(folder: Path) -> list[Utterance]:
    paths = sorted(
        path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS
    )
    return [_unlabelled(path.relative_to(folder).as_posix(), path, None) for path in paths]


def _csv_clips(path: Path, skip_report: SkipReport) -> list[Utterance]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if "path" not in (reader.fieldnames or []):
            raise DatasetError(f"{path}: an unlabelled-audio CSV needs a 'path' column; it has {reader.fieldnames}.")
        clips, seen = [], set()
        for line, row in enumerate(reader, start=2):
            relative = (row.get("path") or "").strip()
            if not relative:
                raise DatasetError(f"{path}, line {line}: the 'path' field is empty.")
            audio = Path(relative) if os.path.isabs(relative) else path.parent / relative
            if relative in seen:
                raise DatasetError(f"{path}, line {line}: '{relative}' is listed twice.")
            seen.add(relative)
            if not audio.is_file():
                skip_report.skip(UNLABELLED_PREFIX + relative, "missing audio file", str(audio), f"{path}, line {line}")
                continue
            clips.append(_unlabelled(relative, audio, (row.get("speaker") or "").strip() or None))
    return clips


def _content(patches: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(patches, np.float32).tobytes()).hexdigest()


def without_corpus_clips(
    unlabelled: Mapping[str, np.ndarray], corpus: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The unlabelled clips whose audio (log-mel patches) is no corpus clip's, and the ids of those left out.

    Example:

    >>> kept, dropped = without_corpus_clips({"unlabelled:x": np.ones(2), "unlabelled:y": np.zeros(2)},
    ...                                      {"val_1": np.ones(2)})
    >>> sorted(kept), dropped
    (['unlabelled:y'], ['unlabelled:x'])
    """
    corpus_audio = {_content(value) for value in corpus.values()}
    dropped = sorted(key for key, value in unlabelled.items() if _content(value) in corpus_audio)
    left_out = set(dropped)
    return {key: value for key, value in unlabelled.items() if key not in left_out}, dropped
