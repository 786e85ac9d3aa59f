"""Tiny BERT backbones, audio encoders and padded batches for the text and model tests.

Real keras-hub `BertBackbone`s with a few dozen hidden units, so that the
tests exercise the real layers in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: A 3-layer BERT with hidden size 32 (4 heads of 8 in the fusion head's text block).
TINY_BERT = dict(
    vocabulary_size=64,
    num_layers=3,
    num_heads=2,
    hidden_dim=32,
    intermediate_dim=64,
    max_sequence_length=32,
)
PATCH_SHAPE = (96, 64)


def build_tiny_bert(seed: int = 0, **overrides):
    """A tiny keras-hub BertBackbone with seeded random weights."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    return keras_hub.models.BertBackbone(**{**TINY_BERT, **overrides})


def save_tiny_preset(directory: Path, seed: int = 0) -> str:
    """Saves a tiny BertBackbone as a keras-hub preset directory; returns its path."""
    build_tiny_bert(seed).save_to_preset(str(directory))
    return str(directory)


def build_tiny_audio_encoder(seed: int = 0):
    """A stand-in for VGGish: `[n, 96, 64]` -> `[n, 128]` (mean over frames, Dense)."""
    import keras

    keras.utils.set_random_seed(seed)
    patches = keras.Input(PATCH_SHAPE)
    pooled = keras.layers.GlobalAveragePooling1D()(patches)
    embeddings = keras.layers.Dense(128, activation="relu")(pooled)
    return keras.Model(patches, embeddings, name="tiny_audio_encoder")


def make_raw_batch(
    token_lengths: list[int],
    patch_counts: list[int],
    max_tokens: int | None = None,
    max_patches: int | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Raw model inputs; padded positions hold random tokens and noise, not zeros.

    Real tokens are drawn from the generator seeded with `seed + index` of the
    sample, so a sample gets the same real content in any batch.
    """
    max_tokens = max_tokens or max(token_lengths)
    max_patches = max_patches or max(patch_counts)
    noise = np.random.default_rng(10_000 + seed)
    batch = {
        "token_ids": noise.integers(1, TINY_BERT["vocabulary_size"], (len(token_lengths), max_tokens)),
        "segment_ids": np.zeros((len(token_lengths), max_tokens), "int32"),
        "padding_mask": np.zeros((len(token_lengths), max_tokens), bool),
        "audio_patches": 5.0 * noise.standard_normal((len(token_lengths), max_patches, *PATCH_SHAPE)),
        "audio_mask": np.zeros((len(token_lengths), max_patches), bool),
    }
    for index, (length, count) in enumerate(zip(token_lengths, patch_counts, strict=True)):
        rng = np.random.default_rng(seed + index)
        batch["token_ids"][index, :length] = rng.integers(1, TINY_BERT["vocabulary_size"], length)
        batch["padding_mask"][index, :length] = True
        batch["audio_patches"][index, :count] = rng.standard_normal((count, *PATCH_SHAPE))
        batch["audio_mask"][index, :count] = True
    batch["token_ids"] = batch["token_ids"].astype("int32")
    batch["audio_patches"] = batch["audio_patches"].astype("float32")
    return batch


def save_tiny_preset_with_tokenizer(directory: Path, texts, seed: int = 0) -> str:
    """A tiny BERT preset with a word-level vocabulary covering `texts` (backbone + tokenizer).

    Loads with `ser_keras.text.load_text_encoder` and `load_text_preprocessor`
    like a real preset, so whole jobs can run on it in seconds.
    """
    import re

    import keras_hub

    words = sorted({word for text in texts for word in re.findall(r"[a-z']+|[^\sa-z']", text.lower())})
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    build_tiny_bert(seed, vocabulary_size=len(vocabulary)).save_to_preset(str(directory))
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    tokenizer.save_to_preset(str(directory))
    return str(directory)
