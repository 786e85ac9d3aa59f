"""Any label set (`--labels`, `--label-map`, a corpus's own classes) and speaker-independent folds for any corpus."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pytest

from ser_keras.config import DataConfig
from ser_keras.data import Utterance
from ser_keras.data.errors import DatasetError
from ser_keras.data.label_sets import check_fold_labels
from ser_keras.data.splits import Splits, speaker_folds
from ser_keras.experiment.cli import add_job_arguments, job_config_from_args
from ser_keras.experiment.data import job_folds, load_corpus
from ser_keras.labels import label_order, parse_label_map, parse_labels


def write_manifest(path: Path, labels: list[str], speakers: int = 4) -> Path:
    """A text-only manifest: 6 clips per label and speaker, no split column."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "text", "label", "speaker", "utterance_id"])
        for speaker in range(speakers):
            for label in labels:
                writer.writerows(["", f"{label} words {i}", label, f"spk{speaker}", f"s{speaker}_{label}_{i}"]
                                 for i in range(6))
    return path


def test_label_order_keeps_iemocaps_four_first_then_the_rest_alphabetically():
    assert label_order(["neutral", "angry", "sad", "happy"]) == ("angry", "happy", "sad", "neutral")
    assert label_order(["surprised", "calm", "sad"]) == ("sad", "calm", "surprised")
    assert parse_labels(" b , a ") == ("b", "a")
    for bad in ("a", "a,,b", "a,b,a"):
        with pytest.raises(ValueError):
            parse_labels(bad)
    assert parse_label_map("exc=happy,fru=angry") == {"exc": "happy", "fru": "angry"}
    for bad in ("exc", "exc=", "a=b,a=c"):
        with pytest.raises(ValueError):
            parse_label_map(bad)


def test_a_manifest_brings_its_own_classes_renamed_merged_and_ordered(tmp_path):
    manifest = write_manifest(tmp_path / "m.csv", ["bored", "angry", "calm", "sad", "glad"])
    inferred = load_corpus(DataConfig(dataset="manifest", manifest=str(manifest)))
    assert inferred.label_names == ("angry", "sad", "bored", "calm", "glad")
    ordered = load_corpus(DataConfig(dataset="manifest", manifest=str(manifest), labels=("glad", "calm", "bored", "sad", "angry")))
    assert ordered.label_names == ("glad", "calm", "bored", "sad", "angry")
    assert ordered.label_ids()[:6] == [2] * 6  # the first clips are bored ones: class 2 in that order
    merged = load_corpus(DataConfig(dataset="manifest", manifest=str(manifest),
                                    label_map=(("bored", "neutral"), ("calm", "neutral"), ("glad", "happy"))))
    assert merged.label_names == ("angry", "happy", "sad", "neutral")
    assert merged.counts("label") == {"angry": 24, "happy": 24, "sad": 24, "neutral": 48}

    with pytest.raises(DatasetError, match=r"labels not in the label set \['angry', 'sad'\]: 'bored'"):
        load_corpus(DataConfig(dataset="manifest", manifest=str(manifest), labels=("angry", "sad")))
    with pytest.raises(DatasetError, match="the label set names fearful, which no clip has"):
        load_corpus(DataConfig(dataset="manifest", manifest=str(manifest),
                               labels=("angry", "sad", "bored", "calm", "glad", "fearful")))


def test_the_job_flags_carry_the_label_options():
    parser = argparse.ArgumentParser()
    add_job_arguments(parser)
    config = job_config_from_args(parser.parse_args(
        ["--labels", "sad,happy", "--label-map", "exc=happy", "--protocol", "loso", "--speaker-folds", "3"]))
    assert config.data.labels == ("sad", "happy") and config.data.label_mapping == {"exc": "happy"}
    assert config.data.speaker_folds == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["--protocol", "loso", "--speaker-folds", "2"])
    with pytest.raises(ValueError, match="on a corpus other than IEMOCAP"):
        DataConfig(dataset="iemocap", data_dir="/data", protocol="loso", speaker_folds=3)
    with pytest.raises(SystemExit):
        parser.parse_args(["--labels", "sad"])
    with pytest.raises(ValueError, match="--label-subset 4class selects classes of a public corpus"):
        DataConfig(label_subset="4class")


def test_leave_one_speaker_out_gives_one_fold_per_speaker_and_no_speaker_in_two_splits(tmp_path):
    manifest = write_manifest(tmp_path / "m.csv", ["angry", "sad", "calm"], speakers=5)
    corpus = load_corpus(DataConfig(dataset="manifest", manifest=str(manifest)))
    folds = job_folds(corpus, DataConfig(dataset="manifest", manifest=str(manifest), protocol="loso"))
    assert [name for name, _ in folds] == [f"speaker_spk{i}" for i in range(5)]
    for index, (_, splits) in enumerate(folds):
        speakers = [{item.speaker for item in split} for split in splits]
        assert speakers[2] == {f"spk{index}"} and speakers[1] == {f"spk{(index + 1) % 5}"}
        assert not (speakers[0] & speakers[1]) and not (speakers[0] & speakers[2]) and len(speakers[0]) == 3
        assert sum(len(split) for split in splits) == len(corpus)
    assert sorted(item.speaker for _, splits in folds for item in splits.test) == sorted(i.speaker for i in corpus)

    grouped = speaker_folds(corpus.utterances, 3)
    assert [name for name, _ in grouped] == ["speakers1", "speakers2", "speakers3"]
    assert [{item.speaker for item in splits.test} for _, splits in grouped] == [{"spk0", "spk3"}, {"spk1", "spk4"}, {"spk2"}]
    assert [{item.speaker for item in splits.train} for _, splits in grouped] == [{"spk2"}, {"spk0", "spk3"}, {"spk1", "spk4"}]
    with pytest.raises(DatasetError, match="three folds"):
        speaker_folds(corpus.utterances, 2)  # no speaker would be left to train on
    with pytest.raises(DatasetError, match="at least three speakers"):
        speaker_folds(corpus.utterances[:36])
    with pytest.raises(DatasetError, match="need every clip's speaker"):
        speaker_folds([Utterance("a", "x", "sad")])


def test_classes_missing_from_a_folds_splits_are_named_in_warnings(caplog):
    splits = Splits([Utterance("a", "", "sad"), Utterance("b", "", "angry")], [Utterance("c", "", "sad")],
                    [Utterance("d", "", "sad")])
    with caplog.at_level("WARNING"):
        warnings = check_fold_labels([("main", splits)], ("sad", "angry"))
    assert len(warnings) == 2 and "the test split has no clip of angry" in caplog.text
    warnings = check_fold_labels([("main", splits)], ("sad", "angry", "happy"))
    assert warnings[0].startswith("Fold main: no training clip of happy: the models cannot learn it")
    assert check_fold_labels([("main", Splits(*[[Utterance("a", "", "sad")]] * 3))], ("sad",)) == []


def test_a_public_corpus_reads_with_its_classes_and_splits_by_speaker(tmp_path):
    folder = tmp_path / "emodb"
    folder.mkdir()
    for speaker in ("03", "08", "09", "10"):
        for letter in "WLEAFTN":
            (folder / f"{speaker}a01{letter}a.wav").write_bytes(b"")
            (folder / f"{speaker}a02{letter}b.wav").write_bytes(b"")
    data = DataConfig(dataset="emodb", data_dir=str(folder), protocol="loso")
    corpus = load_corpus(data)
    assert corpus.label_names == ("angry", "bored", "disgust", "fearful", "happy", "sad", "neutral")
    assert len(corpus) == 56
    four = load_corpus(DataConfig(dataset="emodb", data_dir=str(folder), label_subset="4class"))
    assert four.label_names == ("angry", "happy", "sad", "neutral") and len(four) == 32
    folds = job_folds(corpus, data)
    assert [name for name, _ in folds] == ["speaker_03", "speaker_08", "speaker_09", "speaker_10"]
    negative = load_corpus(DataConfig(dataset="emodb", data_dir=str(folder), labels=("negative", "other"),
                                      label_map=tuple((n, "negative") for n in ("angry", "disgust", "fearful", "sad"))
                                      + tuple((n, "other") for n in ("bored", "happy", "neutral"))))
    assert negative.counts("label") == {"negative": 32, "other": 24}
