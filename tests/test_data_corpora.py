"""Readers of EmoDB, RAVDESS speech and CREMA-D on empty files with the corpora's real names.

The readers must not need the audio, so every fixture file is empty. Each
corpus folder holds a few clips of several speakers and emotions, one badly
named `.wav`, a hidden macOS `._*.wav` file and a non-wav file (both ignored);
the RAVDESS folder also holds a song clip (vocal channel 02), which is left out.
"""

import logging

import pytest

from ser_keras.data import DatasetError
from ser_keras.data.corpora import (
    CORPORA,
    CORPUS_NAMES,
    CREMA_D_LABELS,
    EMODB_LABELS,
    FOUR_CLASS_LABELS,
    RAVDESS_LABELS,
    UNRECOGNISED_NAME,
    FileNameError,
    corpus_from_files,
    corpus_label_names,
    parse_crema_d_name,
    parse_emodb_name,
    parse_ravdess_name,
    read_corpus,
)

EMODB_FILES = {
    "wav/03a01Fa.wav": ("03", "M", "happy"),
    "wav/03a01Wa.wav": ("03", "M", "angry"),
    "wav/03b10Lc.wav": ("03", "M", "bored"),
    "wav/08a02Ab.wav": ("08", "F", "fearful"),
    "wav/08b02Tc.wav": ("08", "F", "sad"),
    "wav/16b09Ea.wav": ("16", "F", "disgust"),
    "wav/16a07Nb.wav": ("16", "F", "neutral"),
}
RAVDESS_FILES = {
    "Actor_01/03-01-01-01-01-01-01.wav": ("01", "M", "neutral"),
    "Actor_01/03-01-02-02-02-01-01.wav": ("01", "M", "calm"),
    "Actor_01/03-01-05-02-01-02-01.wav": ("01", "M", "angry"),
    "Actor_12/03-01-03-01-02-01-12.wav": ("12", "F", "happy"),
    "Actor_12/03-01-04-02-01-01-12.wav": ("12", "F", "sad"),
    "Actor_12/03-01-08-01-01-02-12.wav": ("12", "F", "surprised"),
    "Actor_24/03-01-06-01-01-01-24.wav": ("24", "F", "fearful"),
    "Actor_24/03-01-07-02-02-02-24.wav": ("24", "F", "disgust"),
}
CREMA_D_FILES = {
    "AudioWAV/1001_DFA_ANG_XX.wav": ("1001", None, "angry"),
    "AudioWAV/1001_IEO_HAP_HI.wav": ("1001", None, "happy"),
    "AudioWAV/1002_TIE_DIS_MD.wav": ("1002", None, "disgust"),
    "AudioWAV/1002_ITS_SAD_LO.wav": ("1002", None, "sad"),
    "AudioWAV/1091_WSI_FEA_XX.wav": ("1091", None, "fearful"),
    "AudioWAV/1091_MTI_NEU_XX.wav": ("1091", None, "neutral"),
}
#: corpus -> (good files, badly named file, expected full label set)
CASES = {
    "emodb": (EMODB_FILES, "wav/03a01Fa_copy.wav", EMODB_LABELS),
    "ravdess": (RAVDESS_FILES, "Actor_01/03-01-05-01-01-01.wav", RAVDESS_LABELS),
    "crema-d": (CREMA_D_FILES, "AudioWAV/1001-DFA-ANG-XX.wav", CREMA_D_LABELS),
}
RAVDESS_SONG = "Actor_12/03-02-03-01-01-01-12.wav"
#: The corpora read from their file names (MELD, read from its CSVs: tests/test_meld_reader.py).
FILE_NAME_CORPORA = tuple(CORPORA)


def make_corpus_dir(root, name, with_bad=True):
    """Writes the corpus' fixture files (all empty) under `root` and returns it."""
    files, bad, _ = CASES[name]
    names = list(files) + ([bad] if with_bad else [])
    names += [RAVDESS_SONG] if name == "ravdess" else []
    first_folder = next(iter(files)).split("/")[0]
    names += [f"{first_folder}/._hidden.wav", f"{first_folder}/README.txt"]
    for relative in names:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return root


@pytest.mark.parametrize("name", FILE_NAME_CORPORA)
def test_reader_gives_speakers_genders_and_labels(tmp_path, name):
    files, bad, labels = CASES[name]
    corpus = read_corpus(name, make_corpus_dir(tmp_path, name))
    assert corpus.label_names == labels
    assert {item.audio_path: (item.speaker, item.gender, item.label) for item in corpus} == {
        str(tmp_path / relative): expected for relative, expected in files.items()
    }
    assert [item.utterance_id for item in corpus] == [
        relative.split("/")[1][: -len(".wav")] for relative in sorted(files)
    ]
    assert [item.reason for item in corpus.skip_report] == [UNRECOGNISED_NAME]
    skipped = corpus.skip_report.items[0]
    assert (skipped.item_id, skipped.path) == (bad, str(tmp_path / bad))
    assert corpus.counts("label") == {label: 1 for label in labels}


@pytest.mark.parametrize("name", FILE_NAME_CORPORA)
def test_four_class_subset_keeps_angry_happy_sad_neutral_in_that_order(tmp_path, name):
    files, _, _ = CASES[name]
    corpus = read_corpus(name, make_corpus_dir(tmp_path, name), "4class")
    assert corpus.label_names == FOUR_CLASS_LABELS == ("angry", "happy", "sad", "neutral")
    assert corpus.counts("label") == {"angry": 1, "happy": 1, "sad": 1, "neutral": 1}
    kept = sorted(label for _, _, label in files.values() if label in FOUR_CLASS_LABELS)
    assert sorted(item.label for item in corpus) == kept
    assert corpus.label_ids() == [corpus.label_names.index(item.label) for item in corpus]


def test_label_orders_are_stable_and_documented():
    assert FILE_NAME_CORPORA == ("emodb", "ravdess", "crema-d")
    assert CORPUS_NAMES == (*FILE_NAME_CORPORA, "meld")
    assert corpus_label_names("emodb") == tuple(
        "angry bored disgust fearful happy sad neutral".split()
    )
    assert corpus_label_names("ravdess") == tuple(
        "neutral calm happy sad angry fearful disgust surprised".split()
    )
    assert corpus_label_names("crema-d") == tuple(
        "angry disgust fearful happy neutral sad".split()
    )
    for name in CORPUS_NAMES:
        assert corpus_label_names(name, "4class") == ("angry", "happy", "sad", "neutral")


def test_ravdess_song_clip_is_left_out_and_statements_give_the_text(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ser_keras.data.corpora"):
        corpus = read_corpus("ravdess", make_corpus_dir(tmp_path, "ravdess", with_bad=False))
    assert "03-02-03-01-01-01-12" not in {item.utterance_id for item in corpus}
    assert len(corpus) == len(RAVDESS_FILES) and len(corpus.skip_report) == 0
    assert "left out (not speech clips): {'song': 1}" in caplog.text
    texts = {item.utterance_id: item.text for item in corpus}
    assert texts["03-01-01-01-01-01-01"] == "Kids are talking by the door."
    assert texts["03-01-03-01-02-01-12"] == "Dogs are sitting by the door."
    # strict mode does not count a song clip as an error
    assert len(read_corpus("ravdess", tmp_path, strict=True)) == len(RAVDESS_FILES)


@pytest.mark.parametrize("name", ["emodb", "crema-d"])
def test_emodb_and_crema_d_are_audio_only(tmp_path, name):
    corpus = read_corpus(name, make_corpus_dir(tmp_path, name))
    assert {item.text for item in corpus} == {""}
    assert all(item.has_audio for item in corpus)


@pytest.mark.parametrize("name", FILE_NAME_CORPORA)
def test_strict_mode_raises_naming_the_badly_named_file(tmp_path, name):
    _, bad, _ = CASES[name]
    with pytest.raises(DatasetError, match=bad.split("/")[1].replace(".", r"\.")) as error:
        read_corpus(name, make_corpus_dir(tmp_path, name), strict=True)
    assert UNRECOGNISED_NAME in str(error.value)


@pytest.mark.parametrize(
    ("parse", "stem", "wrong_part"),
    [
        (parse_emodb_name, "03a01Fa1", "layout"),
        (parse_emodb_name, "04a01Fa", "speaker '04'"),
        (parse_emodb_name, "03a03Fa", "text code 'a03'"),
        (parse_emodb_name, "03a01Xa", "emotion letter 'X'"),
        (parse_ravdess_name, "01-01-05-01-01-01-01", "modality '01'"),
        (parse_ravdess_name, "03-03-05-01-01-01-01", "vocal channel '03'"),
        (parse_ravdess_name, "03-01-09-01-01-01-01", "emotion '09'"),
        (parse_ravdess_name, "03-01-05-03-01-01-01", "intensity '03'"),
        (parse_ravdess_name, "03-01-05-01-03-01-01", "statement '03'"),
        (parse_ravdess_name, "03-01-05-01-01-03-01", "repetition '03'"),
        (parse_ravdess_name, "03-01-05-01-01-01-25", "actor '25'"),
        (parse_ravdess_name, "03-01-01-02-01-01-01", "neutral .* no strong intensity"),
        (parse_crema_d_name, "1001_DFA_ANG", "layout"),
        (parse_crema_d_name, "1000_DFA_ANG_XX", "actor '1000' is not one of 1001 ... 1091"),
        (parse_crema_d_name, "1001_DFA_CAL_XX", "emotion 'CAL'"),
        (parse_crema_d_name, "1001_DFA_ANG_VH", "level 'VH'"),
    ],
)
def test_parsers_name_the_wrong_part(parse, stem, wrong_part):
    with pytest.raises(FileNameError, match=wrong_part):
        parse(stem)


def test_corpus_from_files_needs_no_files_on_disk():
    corpus = corpus_from_files(
        "crema-d", ["x/1001_DFA_ANG_XX.wav", "y/1001_DFA_ANG_XX.wav", "x/1002_DFA_SAD_LO.wav"]
    )
    assert [item.utterance_id for item in corpus] == ["1001_DFA_ANG_XX", "1002_DFA_SAD_LO"]
    assert [(item.item_id, item.reason) for item in corpus.skip_report] == [
        ("y/1001_DFA_ANG_XX.wav", "duplicate utterance id")
    ]
    assert not corpus[0].audio_file_exists()


def test_wrong_corpus_or_folder_is_a_clear_error(tmp_path):
    make_corpus_dir(tmp_path, "emodb")
    with pytest.raises(DatasetError, match="none of the 8 files is a usable clip.*right corpus"):
        read_corpus("ravdess", tmp_path)
    with pytest.raises(DatasetError, match="Unknown corpus 'iemocap'; known corpora: emodb"):
        read_corpus("iemocap", tmp_path)
    with pytest.raises(DatasetError, match="`label_subset` must be one of"):
        read_corpus("emodb", tmp_path, "7class")
    with pytest.raises(DatasetError, match="does not exist"):
        read_corpus("emodb", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no .wav file"):
        read_corpus("emodb", tmp_path / "empty")
    assert len(read_corpus("EmoDB", tmp_path)) == len(EMODB_FILES)
