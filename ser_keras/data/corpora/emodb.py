"""EmoDB, the Berlin Database of Emotional Speech (Burkhardt et al. 2005): its file names.

535 clips of 10 actors (5 female, 5 male) speaking 10 German sentences in 7
emotions. A clip is named `SSTTTEV.wav`, e.g. `03a01Fa.wav`:

* `SS` speaker: 03, 08, 09, 10, 11, 12, 13, 14, 15 or 16;
* `TTT` text code: a01 a02 a04 a05 a07 b01 b02 b03 b09 b10;
* `E` emotion letter (German initials): W Wut -> angry, L Langeweile -> bored,
  E Ekel -> disgust, A Angst -> fearful, F Freude -> happy, T Trauer -> sad,
  N neutral -> neutral;
* `V` version letter (a, b, c, ...: several takes of the same sentence and emotion).

Gender is not in the file name; it comes from the corpus documentation
(speaker descriptions): male 03, 10, 11, 12, 15; female 08, 09, 13, 14, 16.
Text is left empty: the corpus' German sentences are not part of this
reader (a fixed sentence carries no emotion anyway), so EmoDB reads as an
audio-only corpus.

Labels (`EMODB_LABELS`, class-id order = the order of the emotion letters
above): angry, bored, disgust, fearful, happy, sad, neutral. The 4-class
subset keeps W -> angry, F -> happy, T -> sad, N -> neutral and drops bored,
disgust and fearful. Class counts of the full corpus: angry 127, bored 81,
disgust 46, fearful 69, happy 71, sad 62, neutral 79.

Example:

>>> parse_emodb_name("03a01Fa")
ParsedName(speaker='03', label='happy', gender='M', text='', left_out=None)
"""

from __future__ import annotations

import re

from ser_keras.data.corpora.base import CorpusConvention, NameLayout, ParsedName

#: Emotion letter -> label name, in the corpus' documented order.
EMODB_EMOTIONS: dict[str, str] = {
    "W": "angry",
    "L": "bored",
    "E": "disgust",
    "A": "fearful",
    "F": "happy",
    "T": "sad",
    "N": "neutral",
}

#: The full EmoDB label set, in class-id order.
EMODB_LABELS: tuple[str, ...] = tuple(EMODB_EMOTIONS.values())

#: Speaker code -> gender ("M"/"F"), from the corpus documentation.
EMODB_SPEAKERS: dict[str, str] = {
    "03": "M",
    "08": "F",
    "09": "F",
    "10": "M",
    "11": "M",
    "12": "M",
    "13": "F",
    "14": "F",
    "15": "M",
    "16": "F",
}

#: The 10 text codes.
EMODB_TEXT_CODES: tuple[str, ...] = tuple(
    "a01 a02 a04 a05 a07 b01 b02 b03 b09 b10".split()
)

_NAME = NameLayout(
    "SSTTTEV",
    re.compile(r"(?P<speaker>\d\d)(?P<text>[ab]\d\d)(?P<emotion>[A-Z])(?P<version>[a-z])"),
    {
        "speaker": ("speaker", tuple(EMODB_SPEAKERS)),
        "text": ("text code", EMODB_TEXT_CODES),
        "emotion": ("emotion letter", EMODB_EMOTIONS),
    },
)


def parse_emodb_name(stem: str) -> ParsedName:
    """Parses an EmoDB file name (without `.wav`).

    Raises:
        FileNameError: for another layout, an unknown speaker, text code or
            emotion letter.

    Example:

    >>> parse_emodb_name("16b10Tb").label
    'sad'
    >>> parse_emodb_name("03a03Wa")
    Traceback (most recent call last):
    ...
    ser_keras.data.corpora.base.FileNameError: text code 'a03' is not one of a01, a02, a04, \
a05, a07, b01, b02, b03, b09, b10
    """
    fields = _NAME.read(stem)
    return ParsedName(speaker=fields["speaker"], label=fields["emotion"], gender=EMODB_SPEAKERS[fields["speaker"]])


#: The EmoDB convention, registered as "emodb".
EMODB = CorpusConvention(
    name="emodb",
    title="EmoDB",
    naming="SSTTTEV.wav (e.g. 03a01Fa.wav: speaker 03, text a01, emotion F, version a)",
    label_names=EMODB_LABELS,
    parse=parse_emodb_name,
)
