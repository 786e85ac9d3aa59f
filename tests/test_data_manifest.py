"""Manifest CSV reader: paths, defaults, text-only and audio-only rows, bad rows."""

import os

import numpy as np
import pytest
import soundfile

from ser_keras.data import DatasetError, read_manifest


@pytest.fixture
def corpus_dir(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    for name in ("a1", "a2", "a3"):
        soundfile.write(audio / f"{name}.flac", np.zeros(1600, np.float32), 16000)
    return tmp_path


def write_manifest(directory, text, name="manifest.csv"):
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_rows_with_relative_paths_and_defaults(corpus_dir):
    manifest = write_manifest(
        corpus_dir,
        "path,text,label,speaker,split,utterance_id\n"
        'audio/a1.flac,"Well, I am glad.",happy,spk1,train,\n'
        "audio/a2.flac,,sad,spk2,Dev,custom_id\n"
        ",Only text here.,angry,,test,text_only_1\n",
    )
    corpus = read_manifest(manifest)
    first, audio_only, text_only = corpus.utterances
    assert first.utterance_id == "a1"  # the file stem
    assert first.audio_path == os.path.normpath(corpus_dir / "audio" / "a1.flac")
    assert (first.text, first.label, first.speaker, first.split) == (
        "Well, I am glad.",
        "happy",
        "spk1",
        "train",
    )
    assert (audio_only.utterance_id, audio_only.text, audio_only.split) == (
        "custom_id",
        "",
        "validation",
    )
    assert text_only.audio_path is None and not text_only.has_audio
    assert (text_only.speaker, text_only.split) == (None, "test")
    assert corpus.label_ids() == [1, 2, 0]
    assert len(corpus.skip_report) == 0


def test_manifest_without_optional_columns_and_from_another_directory(corpus_dir, tmp_path_factory):
    other = tmp_path_factory.mktemp("elsewhere")
    manifest = write_manifest(
        other, f"path,text,label\n{corpus_dir / 'audio' / 'a3.flac'},hi,neutral\n"
    )
    (item,) = read_manifest(manifest).utterances
    assert item.audio_path == str(
        corpus_dir / "audio" / "a3.flac"
    )  # absolute paths stay as they are
    assert (item.utterance_id, item.speaker, item.split) == ("a3", None, None)


def test_label_map_and_custom_label_set(corpus_dir):
    manifest = write_manifest(
        corpus_dir, "path,text,label\naudio/a1.flac,x,exc\naudio/a2.flac,y,calm\n"
    )
    corpus = read_manifest(manifest, label_names=("happy", "calm"), label_map={"exc": "happy"})
    assert [item.label for item in corpus.utterances] == ["happy", "calm"]
    assert corpus.label_ids() == [0, 1]


def test_unknown_labels_are_listed_with_their_lines(corpus_dir):
    manifest = write_manifest(
        corpus_dir,
        "path,text,label\naudio/a1.flac,x,happy\naudio/a2.flac,y,bored\naudio/a3.flac,z,fear\naudio/a4.flac,w,bored\n",
    )
    with pytest.raises(DatasetError) as info:
        read_manifest(manifest)
    message = str(info.value)
    assert "'bored' (lines 3, 5)" in message and "'fear' (lines 4)" in message
    assert "--label-map old=new" in message


def test_missing_audio_file_is_skipped_or_raises_in_strict_mode(corpus_dir):
    manifest = write_manifest(
        corpus_dir, "path,text,label\naudio/a1.flac,x,sad\naudio/gone.wav,y,sad\n"
    )
    corpus = read_manifest(manifest)
    assert [item.utterance_id for item in corpus.utterances] == ["a1"]
    (skipped,) = corpus.skip_report.items
    assert (skipped.item_id, skipped.reason) == ("gone", "missing audio file")
    assert skipped.path == os.path.normpath(corpus_dir / "audio" / "gone.wav")
    with pytest.raises(DatasetError, match="'gone'.*missing audio file"):
        read_manifest(manifest, strict=True)


@pytest.mark.parametrize(
    "text, message",
    [
        ("path,text\na.wav,x\n", r"lacks the column\(s\) \['label'\]"),
        ("", "is empty; its first line must be the header"),
        (
            "path,text,label\naudio/a1.flac,x,sad,extra\n",
            "line 2: the row has more fields than the header",
        ),
        ("path,text,label\naudio/a1.flac,x\n", r"line 2: the row lacks the field\(s\) \['label'\]"),
        (
            "path,text,label\naudio/a1.flac,x,sad\naudio/a2.flac,y, \n",
            "line 3: the 'label' field is empty",
        ),
        ("path,text,label\n,,sad\n", "line 2: both 'path' and 'text' are empty"),
        ("path,text,label\n,hello,sad\n", "line 2: a text-only row .* needs an 'utterance_id'"),
        (
            "path,text,label,split\naudio/a1.flac,x,sad,holdout\n",
            "line 2: field 'split': unknown split 'holdout'",
        ),
        (
            "path,text,label,utterance_id\naudio/a1.flac,x,sad,u1\naudio/a2.flac,y,sad,u1\n",
            "line 3: utterance_id 'u1' is already used on line 2",
        ),
    ],
)
def test_bad_manifests_name_the_line_and_field(corpus_dir, text, message):
    manifest = write_manifest(corpus_dir, text)
    with pytest.raises(DatasetError, match=message) as info:
        read_manifest(manifest)
    assert str(manifest) in str(info.value)


def test_missing_manifest_and_unknown_columns(corpus_dir, caplog):
    with pytest.raises(DatasetError, match="does not exist"):
        read_manifest(corpus_dir / "nope.csv")
    manifest = write_manifest(corpus_dir, "path,text,label,duration\naudio/a1.flac,x,sad,1.5\n")
    assert len(read_manifest(manifest)) == 1
    assert "ignoring unknown column(s) ['duration']" in caplog.text


def test_utf8_bom_and_quoted_multiline_text(corpus_dir):
    manifest = corpus_dir / "bom.csv"
    manifest.write_bytes(
        '\ufeffpath,text,label\naudio/a1.flac,"Ça va?\nOui.",neutral\n'.encode("utf-8")
    )
    (item,) = read_manifest(manifest).utterances
    assert item.text == "Ça va?\nOui."
