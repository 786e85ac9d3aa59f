"""The linear-probe rows are scored on the clips the models are scored on, in a corpus where some clips
have no audio."""

from __future__ import annotations

import numpy as np

from ser_keras.data import Splits
from ser_keras.data.records import Utterance
from ser_keras.experiment.probe_rows import probe_results

LABELS = ("angry", "happy", "sad", "neutral")
SIZES = {"train": 48, "validation": 16, "test": 16}


def mixed_corpus(seed: int = 0):
    """Every fifth clip text-only; one training clip's audio unreadable (no patches); the label in both inputs."""
    rng = np.random.default_rng(seed)
    splits, text, patches = {}, {}, {}
    for split, count in SIZES.items():
        items = []
        for index in range(count):
            label = index % 4
            utterance_id = f"{split}_{index}"
            has_audio = index % 5 != 4  # clips 4, 9, 14, ... are text-only, of every label
            text[utterance_id] = rng.normal(size=(3, 8)).astype(np.float32)
            text[utterance_id][:, label] += 3.0
            if has_audio and utterance_id != "train_0":
                patch = rng.normal(size=(96, 64))
                patch[:, 16 * label : 16 * (label + 1)] += 3.0
                patches[utterance_id] = patch[np.newaxis].astype(np.float32)
            items.append(Utterance(utterance_id, "text", LABELS[label],
                                   audio_path=f"{utterance_id}.wav" if has_audio else None))
        splits[split] = items
    return Splits(**splits), text, patches


def test_probes_score_the_same_clips_as_the_models_in_a_mixed_corpus():
    splits, text, patches = mixed_corpus()
    without_audio = {name: sum(not item.has_audio for item in getattr(splits, name)) for name in SIZES}
    assert without_audio == {"train": 9, "validation": 3, "test": 3}
    # The models' clips: all of them, but the one whose audio could not be read (train_0).
    scored = {**SIZES, "train": SIZES["train"] - 1}
    rows = probe_results(splits, text, patches, LABELS)
    assert [row.name for row in rows] == ["Linear probe: text", "Linear probe: audio", "Linear probe: text+audio"]
    for row in rows:
        assert row.extra["clips"] == scored, row.name
    text_row, audio_row, both_row = rows
    assert "clips_without_audio" not in text_row.extra
    assert audio_row.extra["clips_without_audio"] == both_row.extra["clips_without_audio"] == without_audio
    assert audio_row.extra["features"] == 336 + 1 and both_row.extra["features"] == 8 + 336 + 1
    # The audio probe is scored on the three text-only test clips too: it has nothing but "no audio" for
    # them, so it gives them one label and misses two (their labels differ); it is right on the others.
    assert 0.5 <= audio_row.test["acc"] <= 1 - 2 / SIZES["test"], audio_row.test
    assert both_row.test["acc"] >= 0.75, both_row.test  # their text tells (0.88 to 1.0 over ten seeds)

    audio_only = probe_results(splits, None, patches, LABELS)  # an audio-only job
    assert [row.extra["clips"] for row in audio_only] == [scored]
    text_only = probe_results(splits, text, None, LABELS)  # a text-only job reads no audio: every clip
    assert [row.extra["clips"] for row in text_only] == [SIZES]
