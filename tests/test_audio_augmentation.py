"""SpecAugment masks of the audio stage: what they change, and that a resumed epoch draws the same ones."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from ser_keras.audio.augment import MAX_MASKED_BANDS, MAX_MASKED_FRAMES, mask_patch
from ser_keras.config import get_recipe
from ser_keras.experiment import audio_stage
from ser_keras.experiment.audio_stage import patch_batches


def changed_span(changed: np.ndarray) -> tuple[int, int]:
    """First index and width of the one run of True in `changed` (0, 0 without one)."""
    where = np.flatnonzero(changed)
    if not len(where):
        return 0, 0
    assert np.array_equal(where, np.arange(where[0], where[-1] + 1)), "the mask is not one contiguous span"
    return int(where[0]), len(where)


def test_a_patch_gets_one_band_mask_and_one_frame_mask_filled_with_its_mean():
    rng = np.random.default_rng(0)
    widths = set()
    for draw in range(40):
        patch = rng.normal(size=(96, 64)).astype(np.float32)
        masked = mask_patch(patch, [7, draw]).numpy()
        changed = masked != patch
        full_columns, full_rows = changed.all(axis=0), changed.all(axis=1)
        _, band_width = changed_span(full_columns)
        _, frame_width = changed_span(full_rows)
        # Every changed value lies in a masked band or a masked frame, and holds the patch's mean.
        assert np.array_equal(changed, full_columns[None, :] | full_rows[:, None])
        np.testing.assert_allclose(masked[changed], patch.mean(), rtol=1e-5)
        assert band_width <= MAX_MASKED_BANDS and frame_width <= MAX_MASKED_FRAMES
        widths.add((band_width, frame_width))
        np.testing.assert_array_equal(mask_patch(patch, [7, draw]).numpy(), masked)  # the seed places it
    assert len(widths) > 10  # widths vary with the seed


def test_augmented_batches_keep_the_order_and_labels_and_repeat_for_the_same_epoch():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 96, 64)).astype(np.float32), np.arange(12) % 4
    epoch = tf.Variable(3, dtype=tf.int64)

    def batches(augment: bool, at_epoch=epoch):
        return [(inputs.numpy(), labels.numpy()) for inputs, labels in patch_batches((x, y), 5, 0, at_epoch, augment)]

    plain, augmented, again = batches(False), batches(True), batches(True)
    for (plain_x, plain_y), (masked_x, masked_y), (again_x, _) in zip(plain, augmented, again, strict=True):
        np.testing.assert_array_equal(masked_y, plain_y)
        np.testing.assert_array_equal(again_x, masked_x)  # a resumed epoch 3 draws the same masks
        assert (masked_x != plain_x).any(axis=(1, 2)).mean() > 0.5
        for plain_patch, masked_patch in zip(plain_x, masked_x, strict=True):
            # The same patch in the same place: it differs from the unmasked one in whole bands and frames only.
            changed = masked_patch != plain_patch
            assert np.array_equal(changed, changed.all(axis=0)[None, :] | changed.all(axis=1)[:, None])
    epoch.assign(4)
    next_epoch = batches(True)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(augmented, next_epoch, strict=True))
    validation = [inputs.numpy() for inputs, _ in patch_batches((x, y), 5, 0, None, augment=True)]
    np.testing.assert_array_equal(np.concatenate(validation), x)  # no epoch (validation): never masked


class _StopBeforeTraining(Exception):
    pass


def test_the_audio_stage_masks_training_patches_only_when_the_recipe_asks(monkeypatch, tmp_path):
    calls = {}

    def spy(examples, batch_size, seed, epoch, augment=False):
        calls["training" if epoch is not None else "validation"] = augment  # only training is reshuffled per epoch
        if len(calls) == 2:
            raise _StopBeforeTraining

    monkeypatch.setattr(audio_stage, "patch_batches", spy)
    encoder = keras_encoder()
    x, y = np.zeros((4, 96, 64), np.float32), np.array([0, 1, 0, 1])
    for augmentation in (True, False):
        calls.clear()
        recipe = dataclasses.replace(get_recipe("demo"), audio_augmentation=augmentation)
        try:
            audio_stage._train_from_labels(encoder, recipe, (x, y), (x, y), ["a", "b"], tf.distribute.get_strategy(),
                                           str(tmp_path / "stage"), str(tmp_path / "tb"))
        except _StopBeforeTraining:
            pass
        # The training batches follow the recipe; validation is never masked.
        assert calls == {"training": augmentation, "validation": False}


def keras_encoder():
    """A tiny per-patch encoder, `[N, 96, 64] -> [N, 8]`."""
    patches = keras.Input((96, 64))
    return keras.Model(patches, keras.layers.Dense(8)(keras.layers.Flatten()(patches)))
