"""Transcript cleaning shared by the dataset readers and the in-graph tokenizer.

Example:

>>> clean_transcript("Oh, [LAUGHTER] that's  great. [BREATHING]")
"Oh, that's great."
"""

from __future__ import annotations

import re

#: Bracketed non-speech tokens such as `[LAUGHTER]` or `[BREATHING]` (IEMOCAP).
NON_SPEECH_TOKEN_PATTERN = r"\[[^\]]*\]"

_NON_SPEECH_TOKEN = re.compile(NON_SPEECH_TOKEN_PATTERN)


def clean_transcript(text: str) -> str:
    """Removes bracketed non-speech tokens and collapses whitespace.

    Example:

    >>> clean_transcript("[BREATHING] Fine.")
    'Fine.'
    """
    return " ".join(_NON_SPEECH_TOKEN.sub(" ", text).split())
