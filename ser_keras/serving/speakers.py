"""Speaker statistics for serving a list of clips, drawn as the job drew them.

A speaker-normalised export records its rule (`EmotionRecognizer.speaker_normalization`):
`"enrolment"` with k clips, or `"all-clips"`. Given the clips to classify and
their speakers, `SpeakerEnrolment.of` picks each speaker's statistics clips
with that rule (`ser_keras.data.enrolment`: sorted by utterance id) and computes
their statistics; the enrolment clips are marked, and a job's scores leave them
out. Exports from before the rule was recorded used all clips.

Example:

>>> clips = [ServedClip("s1_a", "s1", "s1_a.wav"), ServedClip("s1_b", "s1", "s1_b.wav")]
>>> enrolment = SpeakerEnrolment.of(recognizer, clips)  # doctest: +SKIP
>>> recognizer.predict("s1_b.wav", speaker_statistics=enrolment.statistics_of("s1"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from ser_keras.data.enrolment import ALL_CLIPS, statistics_clips
from ser_keras.data.speaker_norm import BandStatistics

logger = logging.getLogger(__name__)


class ServedClip(NamedTuple):
    """A clip to classify: its utterance id (the stable enrolment order), speaker and audio file.

    Example:

    >>> ServedClip("s1_a", "s1", "s1_a.wav").speaker
    's1'
    """

    utterance_id: str
    speaker: str | None
    audio_path: str | None


@dataclass(frozen=True)
class SpeakerEnrolment:
    """Each speaker's statistics and the clips that gave them.

    Attributes:
        statistics: speaker -> its band statistics.
        enrolment: the utterance ids of enrolment clips (not scored; empty in
            the `"all-clips"` mode and for a model without speaker normalisation).

    Example:

    >>> SpeakerEnrolment().statistics_of("s1") is None
    True
    """

    statistics: dict[str, BandStatistics] = field(default_factory=dict)
    enrolment: frozenset[str] = frozenset()

    def statistics_of(self, speaker: str | None) -> BandStatistics | None:
        """The statistics of `speaker` (`None` without a speaker or without enrolment)."""
        return self.statistics.get(speaker) if speaker else None

    @classmethod
    def of(cls, recognizer, clips: Sequence[ServedClip], enrolment_clips: int | None = None) -> "SpeakerEnrolment":
        """The statistics of every speaker of `clips`, with the model's rule.

        Args:
            recognizer: an `EmotionRecognizer` (its metadata has the rule).
            clips: the clips to classify.
            enrolment_clips: overrides the model's k (the `"enrolment"` rule only).

        Example:

        >>> SpeakerEnrolment.of(recognizer, clips).enrolment  # doctest: +SKIP
        frozenset({'s1_a'})
        """
        from ser_keras.serving.recognizer import EmotionRecognizer

        rule = recognizer.speaker_normalization
        if not rule:
            return cls()
        mode = rule.get("statistics", ALL_CLIPS)
        k = rule.get("enrolment_clips", 0) if enrolment_clips is None else enrolment_clips
        audio_of = {clip.utterance_id: clip.audio_path for clip in clips if clip.audio_path}
        chosen = statistics_clips(
            [(clip.utterance_id, clip.speaker) for clip in clips if clip.audio_path], mode, k
        )
        statistics = {
            speaker: EmotionRecognizer.speaker_statistics(
                [audio_of[utterance_id] for utterance_id in ids], max_patches=recognizer.max_patches
            )
            for speaker, ids in chosen.items()
        }
        enrolment = frozenset() if mode == ALL_CLIPS else frozenset(i for ids in chosen.values() for i in ids)
        logger.info(
            "Speaker statistics (%s%s) of %d speakers; %d enrolment clips.",
            mode, "" if mode == ALL_CLIPS else f", k={k}", len(statistics), len(enrolment),
        )
        return cls(statistics, enrolment)
