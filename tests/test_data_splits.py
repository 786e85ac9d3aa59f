"""Split helpers: split names, split files, the manifest split column, the dispatcher."""

import pytest

from ser_keras.data import (
    DatasetError,
    SkipReport,
    Utterance,
    loso_split,
    make_splits,
    normalize_split_name,
    read_split_file,
    split_from_field,
)


def items(*splits):
    return [Utterance(f"u{i}", "text", "sad", split=split) for i, split in enumerate(splits)]


def test_split_names_and_aliases():
    assert [
        normalize_split_name(name) for name in ("train", " VAL ", "valid", "dev", "Test", "")
    ] == ["train", "validation", "validation", "validation", "test", None]
    with pytest.raises(ValueError, match="unknown split 'eval'"):
        normalize_split_name("eval")


def test_split_from_manifest_column():
    splits = make_splits(items("train", "test", "validation", "train"), "manifest")
    assert [[item.utterance_id for item in split] for split in splits] == [
        ["u0", "u3"],
        ["u2"],
        ["u1"],
    ]
    with pytest.raises(DatasetError, match="1 utterances have no split .*'u1'"):
        split_from_field(items("train", None))


def test_read_split_file_and_its_errors(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("utterance_id,split\nu0,train\nu1,dev\n")
    assert read_split_file(good) == {"u0": "train", "u1": "validation"}
    cases = {
        "id,split\nu0,train\n": "must start with the header 'utterance_id,split'",
        "utterance_id,split\nu0,train\nu0,test\n": "line 3: utterance_id 'u0' is listed twice",
        "utterance_id,split\nu0,later\n": "line 2: field 'split': unknown split 'later'",
        "utterance_id,split\n,train\n": "line 2: the 'utterance_id' field is empty",
        "utterance_id,split\nu0,\n": "line 2: the 'split' field is empty",
    }
    for number, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{number}.csv"
        path.write_text(text)
        with pytest.raises(DatasetError, match=message):
            read_split_file(path)


def test_split_file_of_another_corpus_is_an_error(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("utterance_id,split\nzz1,train\n")
    with pytest.raises(DatasetError, match="None of the 1 ids .*'zz1'"):
        make_splits(items("train"), "split-file", split_file=path)


def test_dispatcher_errors():
    with pytest.raises(ValueError, match="Unknown split kind 'random'"):
        make_splits(items("train"), "random")
    with pytest.raises(ValueError, match="needs `fold`"):
        make_splits(items("train"), "loso")
    with pytest.raises(ValueError, match="needs `split_file`"):
        make_splits(items("train"), "split-file")


def test_loso_needs_sessions_and_two_speakers():
    with pytest.raises(DatasetError, match="needs session, speaker and gender .*'u0'"):
        loso_split(items("train"), 1)
    one_speaker = [Utterance("a", "", "sad", speaker="S1F", session="S1", gender="F")]
    with pytest.raises(
        DatasetError, match="one female and one male speaker in the held-out session S1"
    ):
        loso_split(one_speaker, 1)


def test_skip_report_counts_each_item_once_and_writes_csv(tmp_path):
    report = SkipReport()
    report.skip("a", "unreadable audio", "a.wav", "not a decodable audio file.")
    report.skip("a", "unreadable audio", "a.wav")
    report.skip("b", "missing audio file", "b.wav")
    report.skip("c", "unreadable audio", "c.wav")
    assert len(report) == 3 and "a" in report
    assert report.summary() == "Skipped 3 items: 2 unreadable audio, 1 missing audio file."
    report.write_csv(tmp_path / "skipped.csv")
    assert (tmp_path / "skipped.csv").read_text().splitlines() == [
        "item_id,reason,path,detail",
        "a,unreadable audio,a.wav,not a decodable audio file.",
        "b,missing audio file,b.wav,",
        "c,unreadable audio,c.wav,",
    ]


def test_paper_split_sizes_match_the_papers_iemocap_numbers():
    class_sizes = {"angry": 1103, "happy": 1636, "sad": 1084, "neutral": 1708}  # 5,531 in all
    corpus = [
        Utterance(f"{label}{i}", "", label)
        for label, size in class_sizes.items()
        for i in range(size)
    ]
    splits = make_splits(corpus, "paper")
    assert splits.counts() == {"train": 4479, "validation": 498, "test": 554}
    test_share = sum(item.label == "neutral" for item in splits.test) / len(splits.test)
    assert abs(test_share - 1708 / 5531) < 0.005  # stratified
