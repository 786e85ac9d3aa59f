"""RAVDESS speech (Livingstone & Russo 2018, CC BY-NC-SA 4.0): its file names.

The speech part: 1,440 clips of 24 actors (odd numbers male, even female), two
English sentences, 8 emotions. A clip is named `MM-VV-EE-II-SS-RR-AA.wav`,
e.g. `03-01-05-01-02-01-12.wav`:

* `MM` modality: 03 audio-only (the only modality with `.wav` files);
* `VV` vocal channel: 01 speech, 02 song. Song clips are left out (counted in
  the log, not an error), so the full RAVDESS audio folder can be given;
* `EE` emotion: 01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful,
  07 disgust, 08 surprised;
* `II` intensity: 01 normal, 02 strong (neutral has no strong intensity, so
  `01-02` is a bad name);
* `SS` statement: 01 "Kids are talking by the door.", 02 "Dogs are sitting by
  the door." (the utterance's text);
* `RR` repetition: 01 or 02;
* `AA` actor: 01 ... 24; the speaker is the actor code ("12"), gender M for
  odd, F for even actors.

Labels (`RAVDESS_LABELS`, class-id order = emotion code order): neutral, calm,
happy, sad, angry, fearful, disgust, surprised. The 4-class subset keeps
05 angry, 03 happy, 04 sad and 01 neutral; calm is DROPPED, not merged into
neutral (it is a separate acted category, and merging would make neutral three
times the size of the others), and so are fearful, disgust and surprised.

Example:

>>> parse_ravdess_name("03-01-05-01-02-01-12")
ParsedName(speaker='12', label='angry', gender='F', text='Dogs are sitting by the door.', \
left_out=None)
>>> parse_ravdess_name("03-02-05-01-02-01-12").left_out
'song'
"""

from __future__ import annotations

import re

from ser_keras.data.corpora.base import (
    CorpusConvention,
    FileNameError,
    NameLayout,
    ParsedName,
)

#: Emotion code -> label name.
RAVDESS_EMOTIONS: dict[str, str] = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}

#: The full RAVDESS speech label set, in class-id order.
RAVDESS_LABELS: tuple[str, ...] = tuple(RAVDESS_EMOTIONS.values())

#: Statement code -> the sentence spoken.
RAVDESS_SENTENCES: dict[str, str] = {
    "01": "Kids are talking by the door.",
    "02": "Dogs are sitting by the door.",
}

#: Vocal channel code -> None for speech (kept) or why the clip is left out.
_VOCAL_CHANNELS: dict[str, str | None] = {"01": None, "02": "song"}
_TWO_LEVELS: tuple[str, ...] = ("01", "02")
_NAME = NameLayout(
    "MM-VV-EE-II-SS-RR-AA",
    re.compile(
        r"(?P<modality>\d\d)-(?P<channel>\d\d)-(?P<emotion>\d\d)-(?P<intensity>\d\d)"
        r"-(?P<statement>\d\d)-(?P<repetition>\d\d)-(?P<actor>\d\d)"
    ),
    {
        "modality": ("modality", ("03",)),
        "actor": ("actor", tuple(f"{actor:02d}" for actor in range(1, 25))),
        "channel": ("vocal channel", _VOCAL_CHANNELS),
        "emotion": ("emotion", RAVDESS_EMOTIONS),
        "intensity": ("intensity", _TWO_LEVELS),
        "statement": ("statement", RAVDESS_SENTENCES),
        "repetition": ("repetition", _TWO_LEVELS),
    },
)


def parse_ravdess_name(stem: str) -> ParsedName:
    """Parses a RAVDESS audio file name (without `.wav`).

    Returns:
        The clip's actor, gender, emotion and sentence; a song clip (vocal
        channel 02) comes back with `left_out="song"`.

    Raises:
        FileNameError: for another layout, a modality other than 03, or a code
            out of range (including neutral at strong intensity).

    Example:

    >>> parse_ravdess_name("03-01-01-02-01-01-01")
    Traceback (most recent call last):
    ...
    ser_keras.data.corpora.base.FileNameError: neutral (emotion 01) has no strong intensity (02)
    """
    fields = _NAME.read(stem)
    if fields["emotion"] == "neutral" and fields["intensity"] == "02":
        raise FileNameError("neutral (emotion 01) has no strong intensity (02)")
    return ParsedName(
        speaker=fields["actor"],
        label=fields["emotion"],
        gender="M" if int(fields["actor"]) % 2 else "F",
        text=fields["statement"],
        left_out=fields["channel"],
    )


#: The RAVDESS speech convention, registered as "ravdess".
RAVDESS = CorpusConvention(
    name="ravdess",
    title="RAVDESS",
    naming="MM-VV-EE-II-SS-RR-AA.wav (e.g. 03-01-05-01-02-01-12.wav: audio-only, speech, "
    "angry, normal intensity, statement 02, repetition 01, actor 12)",
    label_names=RAVDESS_LABELS,
    parse=parse_ravdess_name,
)
