"""IEMOCAP reader and its splits, on a small tree in the release's file formats.

The tree: 5 sessions, each with an improvised and a scripted dialog of 10
utterances (alternating female/male speakers) labelled
neu ang hap exc sad fru neu sad xxx ang, so 8 are kept per dialog (2 of each
class; fru and xxx dropped). On top of that:
* Ses01F_impro01_F000 (neu) has no wav file,
* Ses02F_impro01_F002 (sad) has no transcription line,
* Session5 has a dialog Ses05F_impro02 (one ang utterance) without transcription file,
* hidden `._*.txt` files and the `Categorical/` sub-folder must be ignored.
Kept: 80 - 2 = 78 utterances: angry 20, happy 20, sad 19, neutral 19.
"""

import logging

import numpy as np
import pytest
import soundfile

from ser_keras.data import (
    DatasetError,
    clean_transcript,
    loso_split,
    make_splits,
    paper_split,
    read_iemocap,
)

DIALOG_LABELS = ["neu", "ang", "hap", "exc", "sad", "fru", "neu", "sad", "xxx", "ang"]
EVALUATOR_LINES = (
    "C-E2:\tNeutral;\t()\n"
    "C-E3:\tFrustration; Anger;\t(annoyed)\n"
    "C-F1:\tNeutral;\t(curious)\n"
    "A-E3:\tval 3; act 2; dom  2;\t()\n"
    "A-F1:\tval 2; act 2; dom  1;\t()\n"
)
MISSING_WAV = "Ses01F_impro01_F000"
MISSING_TRANSCRIPT_LINE = "Ses02F_impro01_F002"
NO_TRANSCRIPTION_FILE = "Ses05F_impro02_F000"


def utterance_ids(dialog: str, count: int) -> list[str]:
    return [f"{dialog}_{'FM'[i % 2]}{i // 2:03d}" for i in range(count)]


def write_dialog(session_dir, dialog, labels, transcribe=True, skip_line=None, skip_wav=None):
    evaluation = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"]
    transcript = []
    for i, (utterance_id, label) in enumerate(
        zip(utterance_ids(dialog, len(labels)), labels, strict=True)
    ):
        start, end = 2.0 * i + 0.1234, 2.0 * i + 1.9876
        evaluation.append(
            f"[{start:.4f} - {end:.4f}]\t{utterance_id}\t{label}\t[2.5000, 3.0000, 3.5000]\n"
            + EVALUATOR_LINES
            + "\n"
        )
        if utterance_id != skip_line:
            transcript.append(
                f"{utterance_id} [{start:08.4f}-{end:08.4f}]: "
                f"Line {i} of {dialog} [LAUGHTER] here.\n"
            )
        if i == 1:
            transcript.append("M: [BREATHING]\n")
            transcript.append(f"{dialog}_MXX0 [{start:08.4f}-{end:08.4f}]: [GARBAGE]\n")
        if utterance_id != skip_wav:
            wav = session_dir / "sentences" / "wav" / dialog / f"{utterance_id}.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(wav, np.zeros(160, np.float32), 16000)
    evaluation_dir = session_dir / "dialog" / "EmoEvaluation"
    (evaluation_dir / "Categorical").mkdir(parents=True, exist_ok=True)
    (evaluation_dir / f"{dialog}.txt").write_text("".join(evaluation))
    (evaluation_dir / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07 mac resource fork")
    (evaluation_dir / "Categorical" / f"{dialog}_e2_cat.txt").write_text(
        f"{utterance_ids(dialog, 1)[0]} :Neutral state; ()\n"
    )
    if transcribe:
        transcription_dir = session_dir / "dialog" / "transcriptions"
        transcription_dir.mkdir(parents=True, exist_ok=True)
        (transcription_dir / f"{dialog}.txt").write_text("".join(transcript))


@pytest.fixture(scope="module")
def iemocap_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("iemocap") / "IEMOCAP_full_release"
    for session in range(1, 6):
        session_dir = root / f"Session{session}"
        for dialog in (f"Ses0{session}F_impro01", f"Ses0{session}M_script01_1"):
            write_dialog(
                session_dir,
                dialog,
                DIALOG_LABELS,
                skip_line=MISSING_TRANSCRIPT_LINE,
                skip_wav=MISSING_WAV,
            )
    write_dialog(root / "Session5", "Ses05F_impro02", ["ang"], transcribe=False)
    (root / "Documentation").mkdir()
    return root


@pytest.fixture(scope="module")
def corpus(iemocap_root):
    return read_iemocap(iemocap_root)


def by_id(corpus):
    return {item.utterance_id: item for item in corpus.utterances}


def test_parses_fields_of_an_utterance(corpus, iemocap_root):
    item = by_id(corpus)["Ses03M_script01_1_M001"]  # 4th line: exc, merged into happy
    assert item.label == "happy"
    assert item.text == "Line 3 of Ses03M_script01_1 here."
    assert item.audio_path == str(
        iemocap_root
        / "Session3"
        / "sentences"
        / "wav"
        / "Ses03M_script01_1"
        / "Ses03M_script01_1_M001.wav"
    )
    assert (item.session, item.speaker, item.gender) == ("Ses03", "Ses03M", "M")
    assert item.split is None
    female = by_id(corpus)["Ses03M_script01_1_F000"]
    assert (female.label, female.speaker, female.gender) == ("neutral", "Ses03F", "F")


def test_counts_per_class_and_session(corpus):
    assert len(corpus) == 78
    assert corpus.counts("label") == {"angry": 20, "happy": 20, "sad": 19, "neutral": 19}
    assert corpus.counts("session") == {
        "Ses01": 15,
        "Ses02": 15,
        "Ses03": 16,
        "Ses04": 16,
        "Ses05": 16,
    }
    assert corpus.counts("speaker")["Ses01F"] == 7
    assert corpus.label_ids().count(0) == 20  # angry is class 0 of DEFAULT_LABELS


def test_dropped_labels_and_ignored_lines_and_files(corpus):
    ids = by_id(corpus)
    # fru (index 5, M002) and xxx (index 8, F004) are dropped; MXX lines are no utterances.
    assert "Ses01M_script01_1_M002" not in ids and "Ses01M_script01_1_F004" not in ids
    assert not any("MXX" in utterance_id for utterance_id in ids)
    assert all("[" not in item.text and "GARBAGE" not in item.text for item in corpus.utterances)
    assert len(ids) == len(corpus.utterances)  # hidden and Categorical files did not add duplicates


def test_skip_report_lists_missing_wav_transcript_and_transcription_file(corpus):
    reasons = {item.item_id: item.reason for item in corpus.skip_report}
    assert reasons == {
        MISSING_WAV: "missing audio file",
        MISSING_TRANSCRIPT_LINE: "missing transcript line",
        NO_TRANSCRIPTION_FILE: "missing transcription file",
    }
    assert corpus.skip_report.items[0].path.endswith(f"{MISSING_WAV}.wav")
    assert corpus.skip_report.summary(total=81) == (
        "Skipped 3 of 81 items: 1 missing audio file, 1 missing transcript line, "
        "1 missing transcription file."
    )


def test_counts_are_logged(iemocap_root, caplog):
    with caplog.at_level(logging.INFO, logger="ser_keras.data.iemocap"):
        read_iemocap(iemocap_root)
    assert (
        "IEMOCAP: 78 utterances; per class: {'angry': 20, 'happy': 20, 'sad': 19, 'neutral': 19}"
        in caplog.text
    )
    assert "IEMOCAP Ses02: 15 utterances" in caplog.text
    assert "dropped labels outside the label map: {'fru': 10, 'xxx': 10}" in caplog.text


def test_strict_mode_raises_on_the_first_unusable_utterance(iemocap_root):
    with pytest.raises(DatasetError, match=f"'{MISSING_WAV}'.*missing audio file"):
        read_iemocap(iemocap_root, strict=True)


def test_bad_root_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_iemocap(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no 'Session1'"):
        read_iemocap(tmp_path)


def test_label_map_must_map_into_the_label_set(iemocap_root):
    with pytest.raises(DatasetError, match=r"\['excited'\]"):
        read_iemocap(iemocap_root, label_map={"exc": "excited"})


@pytest.mark.parametrize(
    ("label_map", "labels", "counts"),
    [
        ("", None, {"angry": 20, "happy": 20, "sad": 19, "neutral": 19}),
        # a code as the new name means that code's class
        ("exc=hap", None, {"angry": 20, "happy": 20, "sad": 19, "neutral": 19}),
        ("fru=ang", None, {"angry": 30, "happy": 20, "sad": 19, "neutral": 19}),
        ("fru=angry", None, {"angry": 30, "happy": 20, "sad": 19, "neutral": 19}),
        ("exc=excited", None, {"angry": 20, "happy": 10, "sad": 19, "neutral": 19, "excited": 10}),
        ("hap=joy", None, {"angry": 20, "joy": 10, "sad": 19, "neutral": 19, "happy": 10}),
        # a class name renames or merges the class, as on every other corpus (README's two-class example)
        ("happy=joy", None, {"angry": 20, "joy": 20, "sad": 19, "neutral": 19}),
        ("angry=negative,sad=negative,happy=other,neutral=other", None, {"negative": 39, "other": 39}),
        # each clip is mapped once (by its code if given, else by its class): a swap swaps
        ("sad=happy,happy=sad", None, {"angry": 20, "sad": 20, "happy": 19, "neutral": 19}),
        ("fru=ang", ("neutral", "sad", "happy", "angry"), {"neutral": 19, "sad": 19, "happy": 20, "angry": 30}),
    ],
)
def test_label_map_maps_iemocap_codes_and_class_names(iemocap_root, label_map, labels, counts):
    from ser_keras.config import DataConfig
    from ser_keras.experiment.data import load_corpus
    from ser_keras.labels import parse_label_map

    mapping = tuple(parse_label_map(label_map).items()) if label_map else ()
    config = DataConfig(dataset="iemocap", data_dir=str(iemocap_root), label_map=mapping, labels=labels)
    corpus = load_corpus(config)
    assert corpus.label_names == tuple(counts) and corpus.counts("label") == counts
    frustrated = {item.utterance_id for item in corpus if item.utterance_id.endswith("_M002")}  # fru in every dialog
    assert bool(frustrated) == ("fru" in label_map)


@pytest.mark.parametrize(
    ("label_map", "message"),
    [
        ("exec=happy", "exec: on IEMOCAP an old name is a label code .*fru.* or a class name"),
        ("exc=fru", "exc=fru: IEMOCAP drops the code 'fru'"),
    ],
)
def test_label_map_on_iemocap_refuses_unknown_names(iemocap_root, label_map, message):
    from ser_keras.config import DataConfig
    from ser_keras.experiment.data import load_corpus
    from ser_keras.labels import parse_label_map

    config = DataConfig(dataset="iemocap", data_dir=str(iemocap_root), label_map=tuple(parse_label_map(label_map).items()))
    with pytest.raises(DatasetError, match=message):
        load_corpus(config)


def test_malformed_evaluation_line_is_skipped(tmp_path):
    session_dir = tmp_path / "Session1"
    write_dialog(session_dir, "Ses01F_impro01", ["neu", "sad"])
    evaluation = session_dir / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    evaluation.write_text(evaluation.read_text() + "[9.0 - 10.0]\tSes01F_impro01_F009 neu\n")
    corpus = read_iemocap(tmp_path)
    assert [item.label for item in corpus.utterances] == ["neutral", "sad"]
    assert [item.reason for item in corpus.skip_report] == ["malformed EmoEvaluation line"]


def test_clean_transcript_removes_bracketed_tokens():
    assert clean_transcript("[LAUGHTER] Oh  no. [BREATHING]") == "Oh no."
    assert clean_transcript("[LAUGHTER]") == ""


def test_paper_split_is_stratified_disjoint_and_seeded(corpus):
    splits = paper_split(corpus.utterances)
    # 10 % of 78 rounds up to 8 test items, 10 % of the remaining 70 gives 7.
    assert splits.counts() == {"train": 63, "validation": 7, "test": 8}
    ids = [set(item.utterance_id for item in split) for split in splits]
    assert set.union(*ids) == set(by_id(corpus)) and sum(map(len, ids)) == 78
    assert (
        sorted(item.label for item in splits.test)
        == ["angry"] * 2 + ["happy"] * 2 + ["neutral"] * 2 + ["sad"] * 2
    )
    again = paper_split(corpus.utterances, seed=0)
    assert [item.utterance_id for item in again.test] == [item.utterance_id for item in splits.test]
    other = paper_split(corpus.utterances, seed=1)
    assert {item.utterance_id for item in other.test} != ids[2]


def test_loso_folds_hold_out_one_session_with_speaker_split(corpus):
    test_ids = []
    for fold in range(1, 6):
        splits = loso_split(corpus.utterances, fold)
        session = f"Ses0{fold}"
        assert {item.speaker for item in splits.validation} == {f"{session}F"}
        assert {item.speaker for item in splits.test} == {f"{session}M"}
        assert session not in {item.session for item in splits.train}
        assert sum(splits.counts().values()) == 78
        test_ids += [item.utterance_id for item in splits.test]
    assert loso_split(corpus.utterances, 1).counts() == {"train": 63, "validation": 7, "test": 8}
    male = {item.utterance_id for item in corpus.utterances if item.gender == "M"}
    assert sorted(test_ids) == sorted(male)
    swapped = loso_split(corpus.utterances, 2, validation_gender="M")
    assert {item.speaker for item in swapped.test} == {"Ses02F"}
    with pytest.raises(DatasetError, match="fold must be in 1..5"):
        loso_split(corpus.utterances, 6)


def test_split_file_reproduces_a_given_split(corpus, tmp_path, caplog):
    split_file = tmp_path / "split.csv"
    split_file.write_text(
        "utterance_id,split\n"
        "Ses01M_script01_1_M000,train\n"
        "Ses02F_impro01_F000,val\n"
        "Ses05M_script01_1_F001,test\n"
        f"{MISSING_WAV},test\n"
    )
    with caplog.at_level(logging.INFO, logger="ser_keras.data.splits"):
        splits = make_splits(corpus.utterances, "split-file", split_file=split_file)
    assert [[item.utterance_id for item in split] for split in splits] == [
        ["Ses01M_script01_1_M000"],
        ["Ses02F_impro01_F000"],
        ["Ses05M_script01_1_F001"],
    ]
    assert "1 listed ids are not in the corpus" in caplog.text
    assert "75 utterances of the corpus are not listed" in caplog.text
