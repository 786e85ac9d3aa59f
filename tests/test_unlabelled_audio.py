"""`--unlabelled-audio`: reading a folder or CSV of clips without labels, and which jobs may use it.

That the clips make the audio student reproduce the teacher better, and that the
job uses them, is tested in test_compact_students.py.
"""

import argparse

import numpy as np
import pytest
import soundfile

from ser_keras.config import DataConfig, DistillJobConfig, ModelConfig, quick_config
from ser_keras.data import DatasetError, SkipReport
from ser_keras.data.unlabelled import read_unlabelled_audio
from ser_keras.experiment.cli import add_job_arguments, job_config_from_args


def write_clip(path, seconds: float = 1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.zeros(int(16000 * seconds), np.float32), 16000)


def test_a_folder_gives_every_audio_file_under_it_each_clip_its_own_speaker(tmp_path):
    for name in ("b/2.wav", "a.flac", "b/1.ogg"):
        write_clip(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not audio")
    clips = read_unlabelled_audio(tmp_path)
    assert [clip.utterance_id for clip in clips] == ["unlabelled:a.flac", "unlabelled:b/1.ogg", "unlabelled:b/2.wav"]
    assert [clip.speaker for clip in clips] == [clip.utterance_id for clip in clips]
    assert all(clip.label == "" and clip.text == "" and clip.has_audio for clip in clips)


def test_a_csv_gives_its_paths_and_speakers_and_reports_missing_files(tmp_path):
    write_clip(tmp_path / "audio" / "x.wav")
    write_clip(tmp_path / "audio" / "y.wav")
    manifest = tmp_path / "speech.csv"
    manifest.write_text("path,speaker\naudio/x.wav,ann\naudio/gone.wav,ann\naudio/y.wav,\n")
    report = SkipReport()
    clips = read_unlabelled_audio(manifest, skip_report=report)
    assert [(clip.utterance_id, clip.speaker) for clip in clips] == [
        ("unlabelled:audio/x.wav", "ann"), ("unlabelled:audio/y.wav", "unlabelled:audio/y.wav"),
    ]
    assert [item.item_id for item in report] == ["unlabelled:audio/gone.wav"]
    with pytest.raises(DatasetError, match="gone.wav"):
        read_unlabelled_audio(manifest, skip_report=SkipReport(strict=True))


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("file,speaker\nx.wav,a\n", "needs a 'path' column"),
    ("path\n\n", "holds no usable audio"),
    ("path\n,\n", "line 2: the 'path' field is empty"),
])
def test_bad_sources_are_refused_naming_the_file(tmp_path, content, message):
    source = tmp_path / "speech.csv"
    if content is not None:
        source.write_text(content)
    with pytest.raises(DatasetError, match=message) as error:
        read_unlabelled_audio(source)
    assert str(source) in str(error.value)


def test_only_a_job_that_distils_a_compact_students_audio_encoder_from_vggish_takes_it():
    data = DataConfig(unlabelled_audio="more_speech/")
    distilled = ModelConfig(audio_encoder="vggish", compact_students=("audio-compact",))
    assert DistillJobConfig(data=data, model=distilled).data.unlabelled_audio == "more_speech/"
    for model in (
        ModelConfig(compact_students=("compact",)),  # no VGGish weights: the compact CNN is the teacher's
        ModelConfig(audio_encoder="vggish", compact_students=()),  # no compact student
        ModelConfig(audio_encoder="vggish", modality="text"),  # no audio at all
    ):
        with pytest.raises(ValueError, match="--unlabelled-audio more_speech/ only feeds the compact students"):
            DistillJobConfig(data=data, model=model)
    # The flag, and a quick run keeps a compact student for it.
    parser = argparse.ArgumentParser()
    add_job_arguments(parser)
    config = job_config_from_args(parser.parse_args(
        ["--unlabelled-audio", "more_speech/", "--audio-encoder", "vggish", "--quick"]
    ))
    assert config.data.unlabelled_audio == "more_speech/"
    assert config.model.student_layers == () and config.model.compact_students == ("audio-compact",)
    assert quick_config(DistillJobConfig()).model.compact_students == ()  # without it: one layer student


def test_it_leaves_the_teacher_shared_with_runs_without_it_and_the_students_apart():
    model = ModelConfig(audio_encoder="vggish")
    plain = DistillJobConfig(model=model)
    extra = DistillJobConfig(data=DataConfig(unlabelled_audio="more_speech/"), model=model)
    assert extra.teacher_fingerprint() == plain.teacher_fingerprint()
    assert extra.training_fingerprint() != plain.training_fingerprint()
