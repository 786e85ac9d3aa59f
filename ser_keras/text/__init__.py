"""The BERT text branch: presets, encoder loading (teachers and truncated students), tokenization.

Example:

>>> from ser_keras.text import load_text_encoder, load_text_preprocessor
>>> preprocessor = load_text_preprocessor(sequence_length=32)  # offline MiniLM  # doctest: +SKIP
>>> encoder = load_text_encoder(num_layers=2)  # doctest: +SKIP
>>> encoder(preprocessor(["Hello [LAUGHTER] there"]))["sequence_output"].shape  # doctest: +SKIP
TensorShape([1, 32, 384])
"""

from ser_keras.text.encoder import load_text_encoder
from ser_keras.text.presets import (
    BERT_BASE_PRESET,
    MINILM_INSTALL_COMMAND,
    TextPresetError,
    check_text_preset,
    minilm_preset_dir,
    preset_num_layers,
    resolve_preset,
)
from ser_keras.text.tokenizer import (
    DEFAULT_SEQUENCE_LENGTH,
    NON_SPEECH_TOKEN_PATTERN,
    TranscriptPreprocessor,
    load_text_preprocessor,
    remove_non_speech_tokens,
)

__all__ = [
    "BERT_BASE_PRESET",
    "DEFAULT_SEQUENCE_LENGTH",
    "MINILM_INSTALL_COMMAND",
    "NON_SPEECH_TOKEN_PATTERN",
    "TextPresetError",
    "TranscriptPreprocessor",
    "check_text_preset",
    "load_text_encoder",
    "load_text_preprocessor",
    "minilm_preset_dir",
    "preset_num_layers",
    "resolve_preset",
    "remove_non_speech_tokens",
]
