"""Reading an unpacked `IEMOCAP_full_release` directory into a 4-class corpus.

The release layout, per session `SessionN`:

* `dialog/EmoEvaluation/<dialog>.txt`: one line per utterance,
  `[start - end]<TAB><utterance_id><TAB><label><TAB>[v, a, d]`, followed by the
  individual evaluators' lines (`C-E1:`, `A-F1:`, ...), which are ignored.
* `dialog/transcriptions/<dialog>.txt`: lines `<utterance_id> [start-end]: <text>`;
  other lines are ignored.
* `sentences/wav/<dialog>/<utterance_id>.wav`.

As the paper's authors do, the labels ang, hap, exc, sad and neu are kept, with
excited merged into happy; every other label (fru, sur, fea, dis, oth, xxx) is
dropped. Bracketed tokens such as `[LAUGHTER]` are removed from transcripts.
Utterances are listed session by session, dialog files in name order, lines in
file order.

Example:

>>> corpus = read_iemocap("IEMOCAP_full_release")  # doctest: +SKIP
>>> corpus.counts("label")  # doctest: +SKIP
{'angry': 1103, 'happy': 1636, 'sad': 1084, 'neutral': 1708}
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ser_keras.data.errors import DatasetError
from ser_keras.data.records import Corpus, Utterance, count_by
from ser_keras.data.skip_report import SkipReport
from ser_keras.labels import DEFAULT_LABELS
from ser_keras.transcripts import clean_transcript

logger = logging.getLogger(__name__)

#: IEMOCAP label codes kept by the paper -> label names (excited merged into happy).
IEMOCAP_LABEL_MAP: dict[str, str] = {
    "ang": "angry",
    "hap": "happy",
    "exc": "happy",
    "sad": "sad",
    "neu": "neutral",
}

#: Every label code of IEMOCAP's evaluation files (those outside `IEMOCAP_LABEL_MAP` are dropped by default).
IEMOCAP_CODES: tuple[str, ...] = ("ang", "hap", "exc", "sad", "neu", "fru", "sur", "fea", "dis", "oth", "xxx")

_SESSION_DIR = re.compile(r"^Session(\d+)$")
_TRANSCRIPT_LINE = re.compile(r"^(?P<id>\S+)\s+\[[\d.]+-[\d.]+\]:\s?(?P<text>.*)$")


def read_iemocap(
    root: str | os.PathLike,
    *,
    label_map: Mapping[str, str] = IEMOCAP_LABEL_MAP,
    label_names: Sequence[str] = DEFAULT_LABELS,
    strict: bool = False,
) -> Corpus:
    """Reads the labelled utterances of an unpacked IEMOCAP release.

    Args:
        root: the `IEMOCAP_full_release` directory (holding `Session1` ... `Session5`).
        label_map: IEMOCAP label code -> label name; codes not in it are dropped.
        label_names: the label set (its order gives the class ids).
        strict: raise on the first utterance that cannot be used instead of
            listing it in the corpus' skip report.

    Returns:
        A `Corpus` whose utterances carry id, wav path, transcript, label,
        session ("Ses01" ...), speaker ("Ses01F" = the female actor of
        session 1) and gender ("F"/"M"). Counts per class and per session are
        logged.

    Raises:
        DatasetError: when `root` holds no session directory, when
            `label_map` names a label outside `label_names`, or in strict mode
            for a missing wav, transcription file or transcript line.

    Example:

    >>> corpus = read_iemocap("/data/IEMOCAP_full_release")  # doctest: +SKIP
    >>> corpus.utterances[0].speaker  # doctest: +SKIP
    'Ses01F'
    """
    root = Path(root)
    label_names = tuple(label_names)
    outside = sorted(set(label_map.values()) - set(label_names))
    if outside:
        raise DatasetError(
            f"`label_map` maps to {outside}, which are not in the label set {list(label_names)}."
        )
    report = SkipReport(strict=strict)
    utterances: list[Utterance] = []
    seen_ids: set[str] = set()
    dropped_labels: dict[str, int] = {}
    for session_number, session_dir in _session_dirs(root):
        session = f"Ses{session_number:02d}"
        for evaluation_file in _dialog_files(session_dir / "dialog" / "EmoEvaluation"):
            dialog = evaluation_file.stem
            transcripts = _read_transcripts(
                session_dir / "dialog" / "transcriptions" / evaluation_file.name
            )
            for utterance_id, code in _read_evaluations(evaluation_file, report):
                if code not in label_map:
                    dropped_labels[code] = dropped_labels.get(code, 0) + 1
                    continue
                utterance = _make_utterance(
                    utterance_id,
                    label_map[code],
                    session,
                    session_dir / "sentences" / "wav" / dialog / f"{utterance_id}.wav",
                    transcripts,
                    report,
                )
                if utterance is None:
                    continue
                if utterance_id in seen_ids:
                    report.skip(utterance_id, "duplicate utterance id", str(evaluation_file))
                    continue
                seen_ids.add(utterance_id)
                utterances.append(utterance)
    corpus = Corpus(utterances, label_names, report)
    _log_counts(corpus, dropped_labels)
    return corpus


def iemocap_label_map(label_map: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """IEMOCAP label code -> label name under a user's `--label-map`, and the label set's order.

    A key of `label_map` is either an IEMOCAP label code (`IEMOCAP_CODES`),
    which maps the clips of that code, a dropped one included (`fru=angry`
    adds frustration to angry, `exc=excited` keeps excited apart), or one of
    the four class names, which renames or merges that class as on any other
    corpus (`happy=joy`; `angry=negative,sad=negative,happy=other,neutral=other`).
    Each clip is mapped once: by its code when the code is a key, otherwise by
    its class name. A new name that is a label code means the class of that
    code's clips (`exc=hap` = `exc=happy`, `fru=ang` = `fru=angry`).

    Returns:
        The code map for `read_iemocap` and the label names in their order:
        the four classes' names in angry, happy, sad, neutral order, then the
        other names alphabetically.

    Raises:
        DatasetError: for a key that is neither a label code nor a class name,
            or a new name that is a code the map leaves dropped.

    Example:

    >>> codes, names = iemocap_label_map({"exc": "hap", "fru": "ang"})
    >>> codes["exc"], codes["fru"], names
    ('happy', 'angry', ('angry', 'happy', 'sad', 'neutral'))
    >>> iemocap_label_map({"angry": "negative", "sad": "negative", "happy": "other", "neutral": "other"})[1]
    ('negative', 'other')
    >>> iemocap_label_map({"exc": "excited"})[1]
    ('angry', 'happy', 'sad', 'neutral', 'excited')
    """
    unknown = sorted(set(label_map) - set(IEMOCAP_CODES) - set(DEFAULT_LABELS))
    if unknown:
        raise DatasetError(
            f"--label-map {', '.join(unknown)}: on IEMOCAP an old name is a label code "
            f"({', '.join(IEMOCAP_CODES)}) or a class name ({', '.join(DEFAULT_LABELS)})."
        )

    def name_of(code: str, seen: frozenset[str] = frozenset()) -> str | None:
        if code in label_map and code not in seen:
            new = label_map[code]
            return name_of(new, seen | {code}) if new in IEMOCAP_CODES else new
        if code not in IEMOCAP_LABEL_MAP:
            return None
        return label_map.get(IEMOCAP_LABEL_MAP[code], IEMOCAP_LABEL_MAP[code])

    codes = {}
    for code in IEMOCAP_CODES:
        name = name_of(code)
        if name is None and code in label_map:
            raise DatasetError(
                f"--label-map {code}={label_map[code]}: IEMOCAP drops the code '{label_map[code]}'; "
                f"give a class name, or map '{label_map[code]}' too."
            )
        if name is not None:
            codes[code] = name
    first = tuple(dict.fromkeys(codes[code] for code in ("ang", "hap", "sad", "neu")))
    return codes, first + tuple(sorted(set(codes.values()) - set(first)))


def _session_dirs(root: Path) -> list[tuple[int, Path]]:
    if not root.is_dir():
        raise DatasetError(
            f"IEMOCAP directory '{root}' does not exist; pass the unpacked "
            "'IEMOCAP_full_release' directory."
        )
    sessions = sorted(
        (int(match.group(1)), path)
        for path in root.iterdir()
        if path.is_dir() and (match := _SESSION_DIR.match(path.name))
    )
    if not sessions:
        raise DatasetError(
            f"'{root}' holds no 'Session1' ... 'Session5' directory; pass the unpacked "
            "'IEMOCAP_full_release' directory."
        )
    return sessions


def _dialog_files(directory: Path) -> list[Path]:
    """The dialog files of a directory, without sub-directories and hidden files (`._x.txt`)."""
    if not directory.is_dir():
        logger.warning("IEMOCAP: '%s' is missing; this session has no labels.", directory)
        return []
    return sorted(
        path for path in directory.glob("*.txt") if path.is_file() and not path.name.startswith(".")
    )


def _read_evaluations(path: Path, report: SkipReport) -> list[tuple[str, str]]:
    """The `(utterance_id, label code)` of each utterance line of an EmoEvaluation file."""
    pairs = []
    for line_number, line in enumerate(
        path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
    ):
        if not line.startswith("["):
            continue  # header, blank lines and the evaluators' "C-E1:" / "A-F1:" lines
        fields = line.rstrip().split("\t")
        if len(fields) != 4 or not fields[1].strip() or not fields[2].strip():
            report.skip(
                f"{path.name}:{line_number}",
                "malformed EmoEvaluation line",
                str(path),
                f"expected '[start - end]<TAB>utterance_id<TAB>label<TAB>[v, a, d]', got {line!r}",
            )
            continue
        pairs.append((fields[1].strip(), fields[2].strip()))
    return pairs


def _read_transcripts(path: Path) -> dict[str, str] | None:
    """Utterance id -> cleaned transcript, or `None` when the file is missing."""
    if not path.is_file():
        return None
    transcripts = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _TRANSCRIPT_LINE.match(line.strip())
        if match:
            transcripts[match.group("id")] = clean_transcript(match.group("text"))
    return transcripts


def _make_utterance(
    utterance_id: str,
    label: str,
    session: str,
    wav_path: Path,
    transcripts: dict[str, str] | None,
    report: SkipReport,
) -> Utterance | None:
    gender = utterance_id.rsplit("_", 1)[-1][:1]
    if gender not in ("F", "M"):
        report.skip(
            utterance_id,
            "unrecognised utterance id",
            detail="the last '_' part must start with the speaker's gender, F or M",
        )
        return None
    if transcripts is None:
        report.skip(utterance_id, "missing transcription file", str(wav_path))
        return None
    if utterance_id not in transcripts:
        report.skip(utterance_id, "missing transcript line", str(wav_path))
        return None
    if not wav_path.is_file():
        report.skip(utterance_id, "missing audio file", str(wav_path))
        return None
    return Utterance(
        utterance_id=utterance_id,
        text=transcripts[utterance_id],
        label=label,
        audio_path=str(wav_path),
        speaker=f"{session}{gender}",
        session=session,
        gender=gender,
    )


def _log_counts(corpus: Corpus, dropped_labels: dict[str, int]) -> None:
    logger.info("IEMOCAP: %d utterances; per class: %s", len(corpus), corpus.counts("label"))
    for session, count in corpus.counts("session").items():
        session_items = [item for item in corpus.utterances if item.session == session]
        logger.info(
            "IEMOCAP %s: %d utterances; per class: %s",
            session,
            count,
            count_by(session_items, "label", order=corpus.label_names),
        )
    if dropped_labels:
        logger.info(
            "IEMOCAP: dropped labels outside the label map: %s",
            dict(sorted(dropped_labels.items())),
        )
    if len(corpus.skip_report):
        logger.warning("IEMOCAP: %s", corpus.skip_report.summary())
