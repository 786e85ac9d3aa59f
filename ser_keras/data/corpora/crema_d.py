"""CREMA-D (Cao et al. 2014, Open Database License): its file names.

7,442 clips of 91 actors (1001 ... 1091) speaking 12 English sentences in 6
emotions. A clip is named `AAAA_SSS_EEE_LL.wav`, e.g. `1001_DFA_ANG_XX.wav`:

* `AAAA` actor: 1001 ... 1091 (the speaker);
* `SSS` sentence code: three capital letters (e.g. DFA, IEO);
* `EEE` emotion: ANG angry, DIS disgust, FEA fearful, HAP happy, NEU neutral,
  SAD sad;
* `LL` emotion level: LO low, MD medium, HI high, XX unspecified.

Gender is not in the file name (the corpus keeps it in a separate demographics
table, which this reader does not read): `gender` is `None`. Text is left
empty: the sentence texts per code are not part of this reader (a fixed
sentence carries no emotion anyway), so CREMA-D reads as an audio-only corpus.

Labels (`CREMA_D_LABELS`, class-id order = emotion code order as listed
above): angry, disgust, fearful, happy, neutral, sad. The 4-class subset
keeps ANG -> angry, HAP -> happy, SAD -> sad, NEU -> neutral and drops
disgust and fearful.

Its public repository keeps the audio in Git LFS: a clone without LFS holds
pointer files with the real names, which this reader reads just the same.

Example:

>>> parse_crema_d_name("1001_DFA_ANG_XX")
ParsedName(speaker='1001', label='angry', gender=None, text='', left_out=None)
"""

from __future__ import annotations

import re

from ser_keras.data.corpora.base import CorpusConvention, NameLayout, ParsedName

#: Emotion code -> label name.
CREMA_D_EMOTIONS: dict[str, str] = {
    "ANG": "angry",
    "DIS": "disgust",
    "FEA": "fearful",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}

#: The full CREMA-D label set, in class-id order.
CREMA_D_LABELS: tuple[str, ...] = tuple(CREMA_D_EMOTIONS.values())

#: The emotion levels (LO low, MD medium, HI high, XX unspecified).
CREMA_D_LEVELS: tuple[str, ...] = ("LO", "MD", "HI", "XX")

_NAME = NameLayout(
    "AAAA_SSS_EEE_LL",
    re.compile(r"(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>[A-Z]{2})"),
    {
        "actor": ("actor", tuple(str(actor) for actor in range(1001, 1092))),
        "emotion": ("emotion", CREMA_D_EMOTIONS),
        "level": ("level", CREMA_D_LEVELS),
    },
)


def parse_crema_d_name(stem: str) -> ParsedName:
    """Parses a CREMA-D file name (without `.wav`).

    Raises:
        FileNameError: for another layout, an actor outside 1001-1091, or an
            unknown emotion or level code.

    Example:

    >>> parse_crema_d_name("1091_WSI_SAD_HI").speaker
    '1091'
    >>> parse_crema_d_name("1001_DFA_CAL_XX")
    Traceback (most recent call last):
    ...
    ser_keras.data.corpora.base.FileNameError: emotion 'CAL' is not one of ANG, DIS, FEA, HAP, \
NEU, SAD
    """
    fields = _NAME.read(stem)
    return ParsedName(speaker=fields["actor"], label=fields["emotion"])


#: The CREMA-D convention, registered as "crema-d".
CREMA_D = CorpusConvention(
    name="crema-d",
    title="CREMA-D",
    naming="AAAA_SSS_EEE_LL.wav (e.g. 1001_DFA_ANG_XX.wav: actor 1001, sentence DFA, "
    "emotion ANG, level XX)",
    label_names=CREMA_D_LABELS,
    parse=parse_crema_d_name,
)
