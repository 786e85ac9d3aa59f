"""Every model the job builds saves to `.keras` and loads back in a fresh process, without custom_objects.

The loading process (`load_keras_in_fresh_process.py`) imports `ser_keras.models` and nothing
else of ser_keras before it loads the job's models: that import is what a user needs (it
registers every ser_keras layer; keras-hub's BERT is imported by Keras itself). The training
wrappers load after `import ser_keras.training` as well. Models are built as the job builds them, at
test size: a tiny BERT preset (3 layers x 32) for the teacher, its first layer for the layer
student, the narrow BERT and the compact audio CNN (with band statistics set) for the compact
students; the teacher's audio encoder is a small stand-in for VGGish with the VGGish PCA
postprocessor on top (`build_vggish(pca_params=...)`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from load_keras_in_fresh_process import flat_weights, model_outputs
from text_model_stand_ins import build_tiny_audio_encoder, make_raw_batch, save_tiny_preset

SCRIPT = Path(__file__).with_name("load_keras_in_fresh_process.py")
NUM_CLASSES = 4
JOB_MODELS = ("teacher", "student_k1", "compact", "audio_compact")
TRAINING_WRAPPERS = ("classifier", "distiller")


def _vggish_stand_in_with_pca():
    """The small audio stand-in followed by VGGish's PCA + quantisation postprocessor."""
    import keras

    from ser_keras.vggish import VGGishPostprocessor

    encoder = build_tiny_audio_encoder()
    rng = np.random.default_rng(1)
    postprocessor = VGGishPostprocessor(rng.normal(0, 0.1, (128, 128)), rng.normal(0, 0.1, 128))
    return keras.Model(encoder.input, postprocessor(encoder.output), name="vggish_with_pca")


def _compact_audio_encoder():
    """The compact audio CNN with band statistics of random patches (not the initial 0 and 1)."""
    from ser_keras.models.audio_cnn import build_compact_audio_encoder, set_band_statistics

    encoder = build_compact_audio_encoder()
    set_band_statistics(encoder, np.random.default_rng(2).normal(3.0, 2.0, (20, 96, 64)))
    return encoder


def _job_models(preset: str) -> dict:
    """The teacher, a layer student and both compact students, as the job builds them."""
    from ser_keras.models import build_ser_models
    from ser_keras.text import load_text_encoder
    from ser_keras.text.narrow import build_narrow_text_encoder, compact_text_spec

    teacher_bert = load_text_encoder(preset)
    audio_encoder = _vggish_stand_in_with_pca()
    compact_audio = _compact_audio_encoder()
    teacher = build_ser_models(teacher_bert, audio_encoder, NUM_CLASSES, name="teacher")
    narrow_bert = build_narrow_text_encoder(teacher_bert, compact_text_spec(teacher_bert))
    return {
        "teacher": teacher,
        "student_k1": build_ser_models(load_text_encoder(preset, 1), audio_encoder, NUM_CLASSES, name="student_k1"),
        "compact": build_ser_models(narrow_bert, compact_audio, NUM_CLASSES, name="compact"),
        "audio_compact": build_ser_models(
            None, compact_audio, NUM_CLASSES, pooling="mean", modality="audio", name="audio_compact"
        ),
    }


def _training_wrappers(models: dict) -> dict:
    """A supervised classifier and a Distiller (compact student, 16 -> 32 feature projection)."""
    import keras

    from ser_keras.training import Distiller
    from ser_keras.training.classifier import build_classifier

    projection = keras.layers.Dense(32, name="feature_projection")
    projection.build((None, None, 16))
    return {
        "classifier": build_classifier(models["student_k1"].raw_model),
        "distiller": Distiller(models["teacher"].raw_model, models["compact"].raw_model, alpha=0.3,
                               temperature=3.0, feature_projection=projection),
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Every model built, saved as `<key>.keras`; returns `(folder, {key: model})`."""
    folder = tmp_path_factory.mktemp("keras_saving")
    built = _job_models(save_tiny_preset(folder / "preset"))
    models = {key: value.raw_model for key, value in built.items()}
    models.update(_training_wrappers(built))
    for key, model in models.items():
        model.save(folder / f"{key}.keras")
    return folder, models


def test_every_model_of_the_job_loads_in_a_fresh_process_with_equal_outputs(saved, tmp_path):
    folder, models = saved
    inputs = make_raw_batch([5, 3], [2, 3], seed=4)
    np.savez(tmp_path / "inputs.npz", **inputs)
    items = ["ser_keras.models", *(str(folder / f"{key}.keras") for key in JOB_MODELS),
             "ser_keras.training", *(str(folder / f"{key}.keras") for key in TRAINING_WRAPPERS)]
    completed = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "inputs.npz"),
                                str(tmp_path / "outputs.npz"), *items], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-3000:]
    with np.load(tmp_path / "outputs.npz") as loaded:
        outputs = {key: loaded[key] for key in loaded.files}

    for key, model in models.items():
        for name, value in model_outputs(model, inputs).items():
            np.testing.assert_allclose(outputs[f"{key}/{name}"], value, rtol=1e-5, atol=1e-5, err_msg=key)
        np.testing.assert_array_equal(outputs[f"{key}/weights"], flat_weights(model), err_msg=key)
    assert outputs["teacher/logits"].shape == outputs["distiller/logits"].shape == (2, NUM_CLASSES)
    assert outputs["teacher/text_features"].shape[-1] == 32 and outputs["compact/text_features"].shape[-1] == 16
    # The job's models needed `import ser_keras.models` alone.
    for key in JOB_MODELS:
        assert "training" not in outputs[f"{key}/ser_keras_modules"], key
    # The compact audio CNN's band statistics are the ones set (not the layer's initial zeros and ones).
    band_means = models["audio_compact"].get_layer("patch_encoder").encoder.get_layer("band_standardization").mean
    assert float(np.mean(band_means.numpy())) == pytest.approx(3.0, abs=0.1)


def test_a_saved_distiller_keeps_its_settings(saved):
    """The Distiller's loss settings, frozen teacher and projection survive saving."""
    import keras

    import ser_keras.training  # noqa: F401

    folder, models = saved
    loaded = keras.saving.load_model(folder / "distiller.keras")
    assert (loaded.alpha, loaded.temperature, loaded.feature_loss_weight) == (0.3, 3.0, 1.0)
    assert loaded.teacher.trainable is False and loaded.student.name == "compact"
    np.testing.assert_array_equal(
        loaded.feature_projection.kernel.numpy(), models["distiller"].feature_projection.kernel.numpy()
    )
