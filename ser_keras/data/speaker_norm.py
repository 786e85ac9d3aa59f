"""Per-speaker normalisation of log-mel patches.

Voices differ in level and timbre more than emotions do, so a model trained on
a few speakers may learn the speakers. Speaker normalisation standardises each
clip's log-mel bands with the statistics of its speaker, then maps them back to
the scale of the training set, so any audio encoder (a frozen VGGish too) still
sees log-mel values in their usual range:

    x' = (x - mean_speaker) / std_speaker * std_reference + mean_reference

Which clips give a speaker's statistics is `ser_keras.data.enrolment`'s rule
(`normalize_fold`): every speaker's first k clips of its split (a validation
or test speaker's enrolment set, then not scored), or all of its clips in the
transductive `"all-clips"` mode. Clips without a speaker are
left as they are, and so is a fold with fewer than two speakers.

Example:

>>> patches = {"a": np.full([1, 96, 64], 2.0), "b": np.full([1, 96, 64], 4.0)}
>>> stats = speaker_statistics(patches, {"a": "s1", "b": "s1"})
>>> float(stats["s1"].mean[0]), float(stats["s1"].std[0])
(3.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ser_keras.data.enrolment import ALL_CLIPS, statistics_clips

#: Floor of a band's standard deviation (silent or constant bands).
MIN_STD = 1e-3


@dataclass(frozen=True)
class BandStatistics:
    """Per-band mean and standard deviation of log-mel frames (`[64]` each).

    Example:

    >>> BandStatistics.of([np.zeros([2, 96, 64])]).std.shape
    (64,)
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, clips: Iterable[np.ndarray]) -> "BandStatistics":
        """The statistics of every frame of `clips` (`[N, 96, 64]` patches each).

        Example:

        >>> float(BandStatistics.of([np.ones([1, 96, 64])]).mean[0])
        1.0
        """
        frames = np.concatenate([np.asarray(clip, np.float64).reshape(-1, clip.shape[-1]) for clip in clips])
        return cls(frames.mean(axis=0), np.maximum(frames.std(axis=0), MIN_STD))

    def to_dict(self) -> dict[str, list[float]]:
        """A JSON-ready dict (`{"mean": [...], "std": [...]}`).

        Example:

        >>> sorted(BandStatistics(np.zeros(2), np.ones(2)).to_dict())
        ['mean', 'std']
        """
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, values: Mapping[str, Iterable[float]]) -> "BandStatistics":
        """Rebuilds statistics saved with `to_dict`.

        Example:

        >>> BandStatistics.from_dict({"mean": [0.0], "std": [1.0]}).mean.tolist()
        [0.0]
        """
        return cls(np.asarray(list(values["mean"]), np.float64), np.asarray(list(values["std"]), np.float64))


def speaker_statistics(
    patches: Mapping[str, np.ndarray], speaker_of: Mapping[str, str]
) -> dict[str, BandStatistics]:
    """The band statistics of each speaker, from all of that speaker's clips in `patches`.

    Args:
        patches: utterance id -> log-mel patches `[N, 96, 64]`.
        speaker_of: utterance id -> speaker (`""` or missing: no speaker).

    Example:

    >>> speaker_statistics({"a": np.zeros([1, 96, 64])}, {"a": ""})
    {}
    """
    by_speaker: dict[str, list[np.ndarray]] = {}
    for utterance_id, value in patches.items():
        speaker = speaker_of.get(utterance_id, "")
        if speaker:
            by_speaker.setdefault(speaker, []).append(value)
    return {speaker: BandStatistics.of(clips) for speaker, clips in sorted(by_speaker.items())}


def normalize_patches(patches: np.ndarray, speaker: BandStatistics, reference: BandStatistics) -> np.ndarray:
    """Maps one clip's patches from its speaker's band statistics to the reference ones.

    Example:

    >>> clip = np.full([1, 96, 64], 5.0)
    >>> stats = BandStatistics(np.full(64, 5.0), np.ones(64))
    >>> float(normalize_patches(clip, stats, BandStatistics(np.zeros(64), np.ones(64)))[0, 0, 0])
    0.0
    """
    scaled = (np.asarray(patches, np.float64) - speaker.mean) / speaker.std
    return (scaled * reference.std + reference.mean).astype(np.float32)


def normalize_by_speaker(
    patches: Mapping[str, np.ndarray],
    speaker_of: Mapping[str, str],
    reference: BandStatistics,
    min_speakers: int = 2,
) -> dict[str, np.ndarray]:
    """Speaker-normalised copies of `patches` (see the module docstring).

    Args:
        patches: utterance id -> log-mel patches, every split.
        speaker_of: utterance id -> speaker.
        reference: the scale to map to: the training split's statistics,
            `BandStatistics.of(training patches)` (exported with the model).
        min_speakers: with fewer speakers than this, `patches` are returned
            unchanged (one speaker has nothing to even out; 1 normalises the
            clips of a normalised corpus's extra audio, say, whatever their count).

    Example:

    >>> patches = {"a": np.full([1, 96, 64], 2.0), "b": np.full([1, 96, 64], 6.0)}
    >>> reference = BandStatistics.of(patches.values())
    >>> out = normalize_by_speaker(patches, {"a": "s1", "b": "s2"}, reference)
    >>> float(out["a"][0, 0, 0]), float(out["b"][0, 0, 0])
    (4.0, 4.0)
    """
    statistics = speaker_statistics(patches, speaker_of)
    if len(statistics) < min_speakers:
        return dict(patches)
    normalized = {}
    for utterance_id, value in patches.items():
        speaker = speaker_of.get(utterance_id, "")
        normalized[utterance_id] = (
            normalize_patches(value, statistics[speaker], reference) if speaker else value
        )
    return normalized


@dataclass(frozen=True)
class FoldNormalization:
    """The speaker-normalised patches of a fold and what produced them (`normalize_fold`).

    Attributes:
        patches: utterance id -> patches (normalised where a speaker's statistics exist).
        reference: the training split's statistics, exported with the model;
            `None` when the fold was left as it was (fewer than two speakers).
        enrolment: the utterance ids of the validation and test speakers'
            enrolment clips, which the job does not score.

    Example:

    >>> FoldNormalization({}, None, frozenset()).normalized
    False
    """

    patches: dict[str, np.ndarray]
    reference: BandStatistics | None
    enrolment: frozenset[str]

    @property
    def normalized(self) -> bool:
        """Whether the fold's clips were speaker-normalised."""
        return self.reference is not None


def normalize_fold(
    patches: Mapping[str, np.ndarray],
    splits,
    mode: str,
    enrolment_clips: int,
) -> FoldNormalization:
    """Speaker-normalised patches of one fold, with statistics drawn as a deployment can draw them.

    Every speaker, per split: statistics of its first `enrolment_clips` clips
    (sorted by utterance id; `ser_keras.data.enrolment`), so the models train
    on clips normalised as a deployed speaker's are; the validation and test
    speakers' enrolment clips are returned in `enrolment` for the job to leave
    unscored (a training speaker's are trained on). With `mode="all-clips"`
    every clip of the speaker in every split instead (transductive).

    Args:
        patches: utterance id -> log-mel patches `[N, 96, 64]` of every clip.
        splits: the fold's `Splits` (items with `utterance_id` and `speaker`).
        mode: `"enrolment"` or `"all-clips"`.
        enrolment_clips: k, per speaker (0: every clip stays as it is).

    Example:

    >>> from ser_keras.data import Splits, Utterance
    >>> clip = lambda i, s, v: (Utterance(i, "", "sad", "x.wav", speaker=s), np.full([1, 96, 64], v))
    >>> pairs = [clip("a", "s1", 1.0), clip("b", "s1", 3.0), clip("c", "s2", 5.0), clip("d", "s2", 9.0)]
    >>> items, patches = [p[0] for p in pairs], {p[0].utterance_id: p[1] for p in pairs}
    >>> fold = normalize_fold(patches, Splits(items[:2], [], items[2:]), "enrolment", 1)
    >>> sorted(fold.enrolment), float(fold.patches["d"][0, 0, 0])  # d: (9 - 5) / 0.001 * 1 + 2
    (['c'], 4002.0)
    >>> float(fold.patches["b"][0, 0, 0])  # b, a training clip: by s1's first clip a, (3 - 1) / 0.001 * 1 + 2
    2002.0
    """
    items = [item for split in splits for item in split if item.utterance_id in patches]
    if len({item.speaker for item in items if item.speaker}) < 2:
        return FoldNormalization(dict(patches), None, frozenset())
    reference = BandStatistics.of([patches[item.utterance_id] for item in splits.train if item.utterance_id in patches])
    groups = [items] if mode == ALL_CLIPS else [
        [item for item in split if item.utterance_id in patches] for split in splits
    ]
    normalized, enrolment = dict(patches), set()
    for index, group in enumerate(groups):
        pairs = [(item.utterance_id, item.speaker) for item in group]
        is_training = mode != ALL_CLIPS and index == 0
        chosen = statistics_clips(pairs, mode, enrolment_clips)
        if not is_training and mode != ALL_CLIPS:
            enrolment.update(utterance_id for ids in chosen.values() for utterance_id in ids)
        statistics = {speaker: BandStatistics.of([patches[i] for i in ids]) for speaker, ids in chosen.items()}
        for item in group:
            if item.speaker in statistics:
                normalized[item.utterance_id] = normalize_patches(
                    patches[item.utterance_id], statistics[item.speaker], reference
                )
    return FoldNormalization(normalized, reference, frozenset(enrolment))
