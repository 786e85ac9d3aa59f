"""EmotionRecognizer on the exported SavedModel and on a TFLite bundle; input checks."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import soxr

from export_stand_ins import padded_waveforms, tiny_export


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_export(tmp_path_factory.getbasetemp() / "tiny_export")


@pytest.fixture(scope="module")
def saved_model_recognizer(tiny):
    from ser_keras.serving import EmotionRecognizer

    return EmotionRecognizer.load(tiny.export_dir)


@pytest.fixture(scope="module")
def tflite_recognizer(tiny, tmp_path_factory):
    from ser_keras.export import convert_to_tflite, write_tflite_bundle
    from ser_keras.serving import EmotionRecognizer

    bundle = tmp_path_factory.mktemp("bundle")
    path = write_tflite_bundle(convert_to_tflite(tiny.saved_model_dir, "none"), tiny.saved_model_dir, "none", bundle)
    return EmotionRecognizer.load(path)


def test_saved_model_predictions_match_keras(tiny, saved_model_recognizer):
    assert saved_model_recognizer.backend.kind == "saved_model"
    assert saved_model_recognizer.label_names == list(tiny.label_names)
    for index in range(0, 144, 29):
        clip = tiny.test_clips[index]
        prediction = saved_model_recognizer.predict(clip.path, clip.text)
        expected = tiny.keras_test_probabilities[index]
        np.testing.assert_allclose(list(prediction.probabilities.values()), expected, atol=1e-5)
        assert prediction.label_id == int(expected.argmax())
        assert prediction.label == tiny.label_names[prediction.label_id]
        assert list(prediction.probabilities) == list(tiny.label_names)


def test_tflite_bundle_matches_the_saved_model(tiny, saved_model_recognizer, tflite_recognizer):
    assert tflite_recognizer.backend.kind == "tflite"
    assert tflite_recognizer.label_names == list(tiny.label_names)
    for clip in tiny.test_clips[:5]:
        ours = tflite_recognizer.predict(clip.waveform, clip.text, sample_rate=16000)
        theirs = saved_model_recognizer.predict(clip.waveform, clip.text, sample_rate=16000)
        np.testing.assert_allclose(
            list(ours.probabilities.values()), list(theirs.probabilities.values()), atol=1e-4
        )


def test_arrays_at_other_rates_and_stereo_are_converted(tiny, saved_model_recognizer, tmp_path):
    clip = tiny.test_clips[3]
    at_44k = soxr.resample(clip.waveform, 16000, 44100)
    stereo = np.stack([at_44k, at_44k], axis=1)
    soundfile.write(tmp_path / "stereo.wav", stereo, 44100, subtype="FLOAT")
    from_array = saved_model_recognizer.predict(stereo, clip.text, sample_rate=44100)
    from_file = saved_model_recognizer.predict(tmp_path / "stereo.wav", clip.text)
    original = saved_model_recognizer.predict(clip.waveform, clip.text, sample_rate=16000)
    np.testing.assert_allclose(
        list(from_array.probabilities.values()), list(from_file.probabilities.values()), atol=1e-5
    )
    # Resampling there and back changes the samples a little, the prediction hardly.
    np.testing.assert_allclose(
        list(from_array.probabilities.values()), list(original.probabilities.values()), atol=0.02
    )


def test_bad_audio_text_and_model_paths_are_rejected(tiny, saved_model_recognizer, tmp_path):
    from ser_keras.audio import AudioReadError
    from ser_keras.serving import EmotionRecognizer, ModelPathError, ServingInputError

    waveform = tiny.test_clips[0].waveform
    with pytest.raises(AudioReadError, match="missing.wav"):
        saved_model_recognizer.predict(tmp_path / "missing.wav")
    (tmp_path / "garbage.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioReadError, match="not a decodable audio file"):
        saved_model_recognizer.predict(tmp_path / "garbage.wav")
    with pytest.raises(ServingInputError, match="empty"):
        saved_model_recognizer.predict(np.zeros(0, np.float32), sample_rate=16000)
    with pytest.raises(ServingInputError, match="NaN"):
        saved_model_recognizer.predict(np.full(16000, np.nan, np.float32), sample_rate=16000)
    with pytest.raises(ServingInputError, match="shape"):
        saved_model_recognizer.predict(waveform.reshape(1, 1, -1), sample_rate=16000)
    with pytest.raises(ServingInputError, match="sample rate"):
        saved_model_recognizer.predict(waveform)
    with pytest.raises(ServingInputError, match="must be a string"):
        saved_model_recognizer.predict(waveform, text=None, sample_rate=16000)
    with pytest.raises(ModelPathError, match="no such file or folder"):
        EmotionRecognizer.load(tmp_path / "no_model")
    with pytest.raises(ModelPathError, match="not a SavedModel folder"):
        EmotionRecognizer.load(tmp_path)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.tflite").write_bytes(b"junk")
    with pytest.raises(ModelPathError, match="metadata.json"):
        EmotionRecognizer.load(bundle / "model.tflite")
    (bundle / "metadata.json").write_bytes((tiny.saved_model_dir / "assets.extra" / "metadata.json").read_bytes())
    with pytest.raises(ModelPathError, match="not a readable TFLite model"):
        EmotionRecognizer.load(bundle / "model.tflite")
    with pytest.raises(ModelPathError, match="pass one of its model files"):
        EmotionRecognizer.load(bundle)


def test_speaker_statistics_normalise_the_patches_of_a_speaker_normalised_export(tiny, saved_model_recognizer, tmp_path):
    from ser_keras.data.speaker_norm import BandStatistics, normalize_patches
    from ser_keras.export import clip_model_inputs, convert_to_tflite, export_model, write_tflite_bundle
    from ser_keras.serving import EmotionRecognizer

    clips = tiny.test_clips[:4]
    reference = BandStatistics(np.full(64, -1.0), np.full(64, 2.0))
    saved_model_dir = export_model(
        tiny.model, tiny.preprocessor, tiny.label_names, tmp_path / "normalised", speaker_reference=reference
    )
    recognizer = EmotionRecognizer.load(saved_model_dir)
    speaker = EmotionRecognizer.speaker_statistics([clip.waveform for clip in clips], sample_rate=16000)
    assert speaker.mean.shape == (64,) and np.all(speaker.std > 0)
    bundle = write_tflite_bundle(convert_to_tflite(saved_model_dir, "none"), saved_model_dir, "none", tmp_path / "bundle")
    tflite = EmotionRecognizer.load(bundle)
    for clip in clips:
        inputs = clip_model_inputs(tiny.preprocessor, clip.waveform, clip.text)
        inputs["audio_patches"] = normalize_patches(inputs["audio_patches"], speaker, reference)
        expected = tiny.keras_probabilities(inputs)[0]
        for served in (recognizer, tflite):
            prediction = served.predict(clip.waveform, clip.text, sample_rate=16000, speaker_statistics=speaker)
            np.testing.assert_allclose(list(prediction.probabilities.values()), expected, atol=1e-4)
    with pytest.raises(ValueError, match="trained without speaker normalisation"):
        saved_model_recognizer.predict(clips[0].waveform, clips[0].text, sample_rate=16000, speaker_statistics=speaker)

    # The in-graph signature for TF Serving: raw inputs and the speaker's statistics.
    import tensorflow as tf

    signature = tf.saved_model.load(saved_model_dir).signatures["serving_speaker"]
    waveforms, lengths = padded_waveforms(clips)
    outputs = signature(
        text=tf.constant([clip.text for clip in clips]), waveform=tf.constant(waveforms),
        waveform_length=tf.constant(lengths), speaker_mean=tf.constant(np.tile(speaker.mean, [4, 1]), tf.float32),
        speaker_std=tf.constant(np.tile(speaker.std, [4, 1]), tf.float32),
    )
    for index, clip in enumerate(clips):
        expected = recognizer.predict(clip.waveform, clip.text, sample_rate=16000, speaker_statistics=speaker)
        np.testing.assert_allclose(outputs["probabilities"][index].numpy(), list(expected.probabilities.values()), atol=1e-4)


def test_a_multimodal_model_needs_audio_and_says_once_when_it_gets_no_text(tiny, saved_model_recognizer, caplog):
    assert saved_model_recognizer.modalities == ("text", "audio")
    clip = tiny.test_clips[0]
    with pytest.raises(ValueError, match="This model reads audio"):
        saved_model_recognizer.predict(None, clip.text)
    with caplog.at_level("WARNING", logger="ser_keras.serving.recognizer"):
        first = saved_model_recognizer.predict(clip.waveform, "", sample_rate=16000)
        saved_model_recognizer.predict(clip.waveform, "  ", sample_rate=16000)
    warnings = [record for record in caplog.records if "without a transcript" in record.getMessage()]
    assert len(warnings) == 1
    assert abs(sum(first.probabilities.values()) - 1.0) < 1e-5
