"""The records every dataset reader produces: utterances and a labelled corpus.

Example:

>>> utterance = Utterance("clip1", text="I am so glad.", label="happy",
...                       audio_path="audio/clip1.flac", speaker="spk1")
>>> corpus = Corpus([utterance])
>>> corpus.label_ids()
[1]
"""

from __future__ import annotations

import collections
import dataclasses
import os
from collections.abc import Sequence

from ser_keras.data.errors import DatasetError
from ser_keras.data.skip_report import SkipReport
from ser_keras.labels import DEFAULT_LABELS

#: The split names used by every reader, split file and split function.
SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One labelled clip: its audio file and/or its transcript.

    Args:
        utterance_id: a corpus-wide unique name (split files refer to it).
        text: the transcript; empty for audio-only data.
        label: the emotion, one of the corpus' label names.
        audio_path: the audio file; `None` for text-only data.
        speaker: who speaks, when known.
        session: the recording session (IEMOCAP: "Ses01" ... "Ses05"), when known.
        gender: "F" or "M", when known.
        split: "train", "validation" or "test" when the source assigns one.

    Example:

    >>> Utterance("Ses01F_impro01_F000", "Excuse me.", "neutral").has_audio
    False
    """

    utterance_id: str
    text: str
    label: str
    audio_path: str | None = None
    speaker: str | None = None
    session: str | None = None
    gender: str | None = None
    split: str | None = None

    @property
    def has_audio(self) -> bool:
        """Whether the utterance comes with an audio file."""
        return self.audio_path is not None

    def audio_file_exists(self) -> bool:
        """Whether the audio file is present on disk (`False` for text-only items)."""
        return self.audio_path is not None and os.path.isfile(self.audio_path)


@dataclasses.dataclass
class Corpus:
    """The utterances of a dataset, its label set and what was skipped while reading it.

    Args:
        utterances: the readable, labelled items.
        label_names: the label set; a label's index is the class id.
        skip_report: the items that were left out and why.

    Example:

    >>> corpus = Corpus([Utterance("a", "hi", "sad"), Utterance("b", "ho", "sad")])
    >>> corpus.counts("label")
    {'angry': 0, 'happy': 0, 'sad': 2, 'neutral': 0}
    """

    utterances: list[Utterance]
    label_names: tuple[str, ...] = DEFAULT_LABELS
    skip_report: SkipReport = dataclasses.field(default_factory=SkipReport)

    def __len__(self) -> int:
        return len(self.utterances)

    def __iter__(self):
        """Iterates over the utterances, so a `Corpus` goes wherever a sequence of them does."""
        return iter(self.utterances)

    def __getitem__(self, index):
        return self.utterances[index]

    def counts(self, field: str) -> dict[str, int]:
        """Number of utterances per value of `field` ("label", "session", "speaker", ...).

        Labels are listed in label-set order, other fields sorted by value.
        """
        return count_by(
            self.utterances, field, order=self.label_names if field == "label" else None
        )

    def label_ids(self) -> list[int]:
        """The class index of every utterance, in order."""
        return label_ids(self.utterances, self.label_names)


def count_by(
    utterances: Sequence[Utterance], field: str, order: Sequence[str] | None = None
) -> dict[str, int]:
    """Counts utterances per value of one of their fields.

    Args:
        utterances: the items to count.
        field: an `Utterance` field name, e.g. "label" or "session".
        order: the keys to list first, in this order (missing ones count 0);
            other values follow sorted. `None` sorts all values.

    Example:

    >>> count_by([Utterance("a", "", "sad", speaker="s1")], "speaker")
    {'s1': 1}
    """
    if field not in {f.name for f in dataclasses.fields(Utterance)}:
        raise ValueError(f"`field` must be an Utterance field name; got '{field}'.")
    counter = collections.Counter(str(getattr(item, field)) for item in utterances)
    ordered = list(order or [])
    ordered += sorted(key for key in counter if key not in ordered)
    return {key: counter.get(key, 0) for key in ordered}


def label_ids(utterances: Sequence[Utterance], label_names: Sequence[str]) -> list[int]:
    """The class index of each utterance's label within `label_names`.

    Raises:
        DatasetError: listing the labels that are not in `label_names`.

    Example:

    >>> label_ids([Utterance("a", "", "sad")], ("angry", "happy", "sad", "neutral"))
    [2]
    """
    index = {name: position for position, name in enumerate(label_names)}
    unknown = sorted({item.label for item in utterances if item.label not in index})
    if unknown:
        raise DatasetError(
            f"Labels {unknown} are not in the label set {list(label_names)}; "
            "map them to one of these labels or extend the label set."
        )
    return [index[item.label] for item in utterances]
