"""Enrolment: which clips of a speaker give the statistics that normalise its other clips.

A speaker-normalised model (`ser_keras.data.speaker_norm`) needs each speaker's
band statistics. In deployment a new speaker's statistics can only come from
clips of that speaker that the system has already heard, so the job and the
serving tools draw them the same way:

* `"enrolment"` (the default): a validation or test speaker's statistics come
  from its first `k` clips in a stable order (sorted by utterance id; the
  audio file's stem when a manifest has no `utterance_id` column). Those
  clips are the speaker's *enrolment* set and are not scored. A training
  speaker's statistics come from its first `k` training clips too (which are
  trained on): statistics of k clips are noisier than those of a speaker's
  hundred, and a model trained on clips normalised with the latter meets
  differently normalised clips in deployment (on EmoDB, 7 classes, a linear
  probe drops from 58 to 45 balanced accuracy; docs/RESULTS.md). `k = 0`
  means no enrolment: every clip is left as it is.
* `"all-clips"`: every clip of the speaker in every split, the scored clip
  included (transductive, as much of the SER literature does; not
  reproducible for a speaker whose clips arrive one at a time). Table II
  marks such rows.

`ser-predict --manifest` and `training_scripts/evaluate.py` apply the rule
recorded in an export's metadata, so a served model sees the statistics the
job used.

Example:

>>> clips = [("b2", "s1"), ("a1", "s1"), ("c3", "s1"), ("x", "s2"), ("y", "")]
>>> enrolment_ids(clips, enrolment_clips=2)
{'s1': ['a1', 'b2'], 's2': ['x']}
"""

from __future__ import annotations

from collections.abc import Iterable

#: Statistics from each unseen speaker's first k clips (not scored).
ENROLMENT = "enrolment"
#: Statistics from all of a speaker's clips (transductive).
ALL_CLIPS = "all-clips"
SPEAKER_STATISTICS_MODES = (ENROLMENT, ALL_CLIPS)
#: The default enrolment size (docs/RESULTS.md, "Speaker normalisation: enrolment"): on the demo
#: teacher's validation clips the best of k = 0, 1, 3, 5, 10.
DEFAULT_ENROLMENT_CLIPS = 5


def check_speaker_statistics_mode(mode: str) -> str:
    """Returns `mode` if it is one of `SPEAKER_STATISTICS_MODES`.

    Raises:
        ValueError: naming the choices.

    Example:

    >>> check_speaker_statistics_mode("enrolment")
    'enrolment'
    """
    if mode not in SPEAKER_STATISTICS_MODES:
        raise ValueError(
            f"speaker statistics must be one of {', '.join(SPEAKER_STATISTICS_MODES)}; got {mode!r}."
        )
    return mode


def clips_by_speaker(clips: Iterable[tuple[str, str | None]]) -> dict[str, list[str]]:
    """Speaker -> its utterance ids in the stable enrolment order (sorted); clips without a speaker are left out.

    Args:
        clips: `(utterance_id, speaker)` pairs.

    Example:

    >>> clips_by_speaker([("b", "s1"), ("a", "s1"), ("c", None)])
    {'s1': ['a', 'b']}
    """
    by_speaker: dict[str, list[str]] = {}
    for utterance_id, speaker in clips:
        if speaker:
            by_speaker.setdefault(speaker, []).append(utterance_id)
    return {speaker: sorted(ids) for speaker, ids in sorted(by_speaker.items())}


def enrolment_ids(clips: Iterable[tuple[str, str | None]], enrolment_clips: int) -> dict[str, list[str]]:
    """Speaker -> its enrolment clips: its first `enrolment_clips` utterance ids, sorted.

    Speakers with no more clips than that are enrolled with all of them (and
    have none left to score). `enrolment_clips = 0` gives no speakers.

    Args:
        clips: `(utterance_id, speaker)` pairs of one split (or one manifest).
        enrolment_clips: `k`, the clips per speaker.

    Example:

    >>> enrolment_ids([("u1", "s1"), ("u2", "s1")], enrolment_clips=1)
    {'s1': ['u1']}
    """
    if enrolment_clips < 0:
        raise ValueError(f"enrolment clips must be 0 or more; got {enrolment_clips}.")
    if enrolment_clips == 0:
        return {}
    return {speaker: ids[:enrolment_clips] for speaker, ids in clips_by_speaker(clips).items()}


def statistics_clips(
    clips: Iterable[tuple[str, str | None]], mode: str, enrolment_clips: int
) -> dict[str, list[str]]:
    """Speaker -> the clips whose frames give its statistics, by `mode` (see the module docstring).

    Example:

    >>> statistics_clips([("u2", "s1"), ("u1", "s1")], "all-clips", 0)
    {'s1': ['u1', 'u2']}
    """
    if check_speaker_statistics_mode(mode) == ALL_CLIPS:
        return clips_by_speaker(clips)
    return enrolment_ids(clips, enrolment_clips)
