"""MELD's reader on tiny fixtures with its real columns: text, speakers, ids, the standard split, errors, a job.

The fixture CSVs are written as MELD's are (CRLF line ends, its header, quoted
fields holding commas, doubled quotes, curly quotes, ellipses, an accented
name) plus mojibake as copies of MELD passed through other tools hold it
("â\\x80\\x99" and "â€™" for "’"). No MELD data is part of the repository.
"""

from __future__ import annotations

import argparse
import csv
import doctest
import json
import logging
from pathlib import Path

import pytest
from job_runs import REPO, job_command, run_job, scores_of_predictions, tiny_preset  # noqa: F401  (a fixture)

from ser_keras.config import DataConfig
from ser_keras.data import DatasetError
from ser_keras.data.corpora import (
    CORPUS_NAMES,
    MELD_LABELS,
    corpus_convention,
    corpus_from_files,
    corpus_label_names,
    meld,
    read_corpus,
)
from ser_keras.experiment.cli import add_data_arguments, data_config_from_args
from ser_keras.experiment.data import job_folds, load_corpus

HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime"

TRAIN_ROWS = [
    ('1,also I was the point person on my company’s transition from the KL-5 to GR-6 system.,Chandler,neutral,'
     'neutral,0,0,8,21,"00:16:16,059","00:16:21,731"'),
    ('2,"Oh-oh, I\'m a duck! I go, ""Quack, quack!"" I’m happy all the time!",Chandler,joy,positive,0,1,8,21,'
     '"00:16:21,940","00:16:23,442"'),
    ('3,You mustâ\x80\x99ve had your hands full.,The Interviewer,surprise,positive,0,2,8,21,'
     '"00:16:23,442","00:16:26,389"'),
    ('4,"Listen, the number that you gave me 853-5…   That is their old number!",Monica,anger,negative,1,0,4,4,'
     '"00:21:40,590","00:21:47,722"'),
    '5,Iâ€™m not gonna cry — okay?,Rachel,sadness,negative,1,1,4,4,"00:21:47,889","00:21:51,851"',
    '6,Ew. That’s José’s sandwich.,Rachel,disgust,negative,1,2,4,4,"00:21:52,019","00:21:55,938"',
    '7,What was that?!,Ross,fear,negative,1,3,4,4,"0:21:56,106","0:21:58,316"',
]
DEV_ROWS = [
    ('1,"Oh my God, he’s lost it. He’s totally lost it.",Phoebe,sadness,negative,0,0,4,7,'
     '"00:20:57,256","00:21:00,049"'),
    '2,What?,Monica,surprise,negative,0,1,4,7,"00:21:01,927","00:21:03,261"',
    '3,"Okay. It’s Emma.",Monica,neutral,neutral,1,0,1,1,"00:13:23,916","00:13:26,460"',
]
TEST_ROWS = [
    ('1,Why do all you’re coffee mugs have numbers on the bottom?,Mark,surprise,positive,0,0,3,19,'
     '"00:14:38,127","00:14:40,378"'),
    ('2,"Oh. That’s so Monica can keep track. That way if one on them is missing, she can be like, ‘Where’s number 27?!’",'
     'Rachel,anger,negative,0,1,3,19,"00:14:40,629","00:14:47,385"'),
]


def write_csv(path: Path, rows: list[str], header: str = HEADER, encoding: str = "utf-8") -> Path:
    path.write_bytes(("\r\n".join([header, *rows]) + "\r\n").encode(encoding))
    return path


def write_meld(folder: Path, train=TRAIN_ROWS, dev=DEV_ROWS, test=TEST_ROWS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("dev", dev), ("test", test)):
        write_csv(folder / f"{name}_sent_emo.csv", rows)
    return folder


def test_fixture_gives_texts_speakers_ids_labels_and_no_audio(tmp_path):
    corpus = read_corpus("meld", write_meld(tmp_path))
    assert corpus.label_names == MELD_LABELS == (
        "neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger",
    )
    assert [item.utterance_id for item in corpus] == [
        "train_dia0_utt0", "train_dia0_utt1", "train_dia0_utt2", "train_dia1_utt0", "train_dia1_utt1",
        "train_dia1_utt2", "train_dia1_utt3", "dev_dia0_utt0", "dev_dia0_utt1", "dev_dia1_utt0",
        "test_dia0_utt0", "test_dia0_utt1",
    ]
    items = {item.utterance_id: item for item in corpus}
    # quoted commas and doubled quotes
    assert items["train_dia0_utt1"].text == 'Oh-oh, I\'m a duck! I go, "Quack, quack!" I’m happy all the time!'
    assert items["train_dia1_utt0"].text == "Listen, the number that you gave me 853-5…   That is their old number!"
    assert items["test_dia0_utt1"].text.endswith("she can be like, ‘Where’s number 27?!’")
    # non-ASCII kept as it is; mojibake (Latin-1 and Windows-1252 readings of UTF-8) repaired
    assert items["train_dia0_utt0"].text.startswith("also I was the point person on my company’s transition")
    assert items["train_dia1_utt2"].text == "Ew. That’s José’s sandwich."
    assert items["train_dia0_utt2"].text == "You must’ve had your hands full."
    assert items["train_dia1_utt1"].text == "I’m not gonna cry — okay?"
    assert (items["train_dia0_utt2"].speaker, items["dev_dia0_utt0"].speaker) == ("The Interviewer", "Phoebe")
    assert [item.label for item in corpus][:7] == [
        "neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear",
    ]
    assert corpus.counts("label") == {
        "neutral": 2, "surprise": 3, "fear": 1, "sadness": 2, "joy": 1, "disgust": 1, "anger": 2,
    }
    assert not any(item.has_audio for item in corpus)
    assert {item.gender for item in corpus} == {None} and len(corpus.skip_report) == 0


def test_the_standard_split_is_the_jobs_split(tmp_path):
    folder = write_meld(tmp_path / "meld")
    corpus = read_corpus("meld", folder)
    assert corpus.counts("split") == {"test": 2, "train": 7, "validation": 3}
    config = DataConfig(dataset="meld", data_dir=str(folder))
    [(name, splits)] = job_folds(load_corpus(config), config)
    assert name == "main" and splits.counts() == {"train": 7, "validation": 3, "test": 2}
    assert {item.utterance_id.split("_")[0] for item in splits.validation} == {"dev"}
    assert [item.utterance_id for item in splits.test] == ["test_dia0_utt0", "test_dia0_utt1"]
    # a split file still selects another split
    swapped = {"train": "train", "validation": "test", "test": "validation"}
    split_file = tmp_path / "split.csv"
    split_file.write_text("utterance_id,split\n" + "".join(
        f"{item.utterance_id},{swapped[item.split]}\n" for item in corpus
    ))
    other = DataConfig(dataset="meld", data_dir=str(folder), split_file=str(split_file))
    assert job_folds(load_corpus(other), other)[0][1].counts() == {"train": 7, "validation": 2, "test": 3}


def test_four_class_subset_renames_anger_joy_sadness_and_drops_the_rest(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ser_keras.data.corpora"):
        corpus = read_corpus("meld", write_meld(tmp_path), "4class")
    assert corpus.label_names == ("angry", "happy", "sad", "neutral")
    assert corpus.counts("label") == {"angry": 2, "happy": 1, "sad": 2, "neutral": 2}
    assert {item.utterance_id: item.label for item in corpus}["train_dia0_utt1"] == "happy"
    assert "dropped classes outside the label set: {'disgust': 1, 'fear': 1, 'surprise': 3}" in caplog.text
    assert corpus_label_names("meld", "4class") == ("angry", "happy", "sad", "neutral")


def test_labels_and_label_map_flags_work_on_meld(tmp_path):
    folder = str(write_meld(tmp_path))
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    merged = data_config_from_args(parser.parse_args([
        "--dataset", "meld", "--data-dir", folder,
        "--label-map", "surprise=other,fear=other,disgust=other,joy=happy",
    ]))
    corpus = load_corpus(merged)
    assert corpus.label_names == ("neutral", "other", "sadness", "happy", "anger")
    assert corpus.counts("label")["other"] == 5
    ordered = data_config_from_args(parser.parse_args([
        "--dataset", "meld", "--data-dir", folder, "--labels", ",".join(reversed(MELD_LABELS)),
    ]))
    assert load_corpus(ordered).label_names == tuple(reversed(MELD_LABELS))
    with pytest.raises(DatasetError, match="labels not in --labels neutral,joy.*'anger' \\(2 clips\\)"):
        load_corpus(DataConfig(dataset="meld", data_dir=folder, labels=("neutral", "joy")))


def test_registered_as_a_dataset_with_a_documented_label_order():
    assert CORPUS_NAMES == ("emodb", "ravdess", "crema-d", "meld")
    assert corpus_label_names("MELD") == MELD_LABELS
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    assert parser.parse_args(["--dataset", "meld", "--data-dir", "x"]).dataset == "meld"
    with pytest.raises(DatasetError, match="read from its CSV files"):
        corpus_convention("meld")
    with pytest.raises(DatasetError, match="read from its CSV files"):
        corpus_from_files("meld", ["dia0_utt0.mp4"])
    with pytest.raises(DatasetError, match="`label_subset` must be one of"):
        corpus_label_names("meld", "7class")


def test_docstring_examples_run():
    failures, attempted = doctest.testmod(meld, optionflags=doctest.ELLIPSIS)
    assert failures == 0 and attempted >= 6


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda folder: (folder / "dev_sent_emo.csv").unlink(),
         (r"dev_sent_emo\.csv' is missing; --data-dir must be the folder holding train_sent_emo\.csv, "
          r"dev_sent_emo\.csv and test_sent_emo\.csv")),
        (lambda folder: write_csv(folder / "test_sent_emo.csv", TEST_ROWS, HEADER.replace("Emotion", "Label")),
         (r"test_sent_emo\.csv lacks the column\(s\) \['Emotion'\]: its header is .*Label.* but MELD's CSVs have "
          r"Sr No\.,Utterance,Speaker,Emotion")),
        (lambda folder: write_csv(folder / "test_sent_emo.csv", [""]),
         r"test_sent_emo\.csv: no usable utterance"),
        (lambda folder: (folder / "test_sent_emo.csv").write_bytes(b""),
         r"test_sent_emo\.csv is empty; a MELD CSV starts with the header Sr No\."),
        (lambda folder: write_csv(folder / "train_sent_emo.csv", [
            *TRAIN_ROWS[:2], TRAIN_ROWS[2].replace("surprise", "happy"), TRAIN_ROWS[3].replace("anger", "Angry"),
            TRAIN_ROWS[4].replace("sadness", "happy"),
        ]),
         (r"train_sent_emo\.csv: 'Emotion' is not one of MELD's 7 emotions \(neutral, surprise, fear, sadness, joy, "
          r"disgust, anger\): 'happy' \(lines 4, 6\); 'angry' \(line 5\)\. Correct the 'Emotion' field")),
        (lambda folder: write_csv(folder / "dev_sent_emo.csv", [DEV_ROWS[0].replace('"Oh my God, he', "Oh my God, he")]),
         r"dev_sent_emo\.csv, line 2: the row has more fields than the header; a field holding commas must be quoted"),
        (lambda folder: write_csv(folder / "dev_sent_emo.csv", ["1,What?,Monica,surprise"]),
         r"dev_sent_emo\.csv, line 2: the row lacks the field\(s\) \['Sentiment', 'Dialogue_ID'"),
        (lambda folder: write_csv(folder / "dev_sent_emo.csv", [DEV_ROWS[1].replace(",0,1,4,7,", ",zero,1,4,7,")]),
         r"dev_sent_emo\.csv, line 2: field 'Dialogue_ID' is 'zero', not a whole number"),
        (lambda folder: write_csv(folder / "dev_sent_emo.csv", DEV_ROWS, encoding="cp1252"),
         r"dev_sent_emo\.csv, line 2: byte 0x92 is not UTF-8; MELD's CSVs are UTF-8"),
    ],
)
def test_bad_input_is_a_clear_error_naming_the_file(tmp_path, change, message):
    folder = write_meld(tmp_path)
    change(folder)
    with pytest.raises(DatasetError, match=message):
        read_corpus("meld", folder)


def test_missing_folder_names_what_to_give(tmp_path):
    with pytest.raises(DatasetError, match=r"MELD folder '.*nowhere' does not exist.*data/MELD/ of a clone"):
        read_corpus("meld", tmp_path / "nowhere")


def test_empty_text_and_repeated_ids_are_skipped_or_strict_errors(tmp_path):
    empty = '8,,Joey,neutral,neutral,2,0,1,1,"00:00:01,000","00:00:02,000"'
    repeated = TRAIN_ROWS[0].replace("1,also I was", "9,also I was", 1)
    folder = write_meld(tmp_path, train=[*TRAIN_ROWS, empty, repeated])
    corpus = read_corpus("meld", folder)
    assert len(corpus) == 12
    assert [(item.item_id, item.reason) for item in corpus.skip_report] == [
        ("train_dia2_utt0", "empty utterance"),
        ("train_sent_emo.csv, line 10", "duplicate utterance id"),
    ]
    assert "already read from train_sent_emo.csv, line 2" in corpus.skip_report.items[1].detail
    with pytest.raises(DatasetError, match="train_dia2_utt0.*empty utterance"):
        read_corpus("meld", folder, strict=True)


def write_job_fixture(folder: Path) -> Path:
    """MELD CSVs of demo transcripts (tokens the tiny preset knows): 21 train, 7 dev, 7 test rows, every class."""
    with open(REPO / "data" / "demo" / "manifest.csv", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    rows, index = {}, 0
    for split, per_class in (("train", 3), ("dev", 1), ("test", 1)):
        rows[split] = []
        for position in range(per_class * len(MELD_LABELS)):
            text = texts[index].replace('"', '""')
            rows[split].append(
                f'{position + 1},"{text}, y’know",Speaker{index % 4},{MELD_LABELS[position % 7]},neutral,'
                f'{position // 3},{position % 3},1,1,"00:00:01,000","00:00:02,000"'
            )
            index += 1
    return write_meld(folder, rows["train"], rows["dev"], rows["test"])


def test_text_only_job_runs_on_meld_with_its_split(tiny_preset, tmp_path):  # noqa: F811
    folder = write_job_fixture(tmp_path / "meld")
    result = run_job([*job_command(tiny_preset, tmp_path), "--dataset", "meld", "--data-dir", str(folder),
                      "--modality", "text", "--no-baselines"])
    log = result.stdout + result.stderr
    assert "per split: {'train': 21, 'validation': 7, 'test': 7}" in log
    assert "VGGish" not in log and "Audio encoder" not in log
    run_dir = tmp_path / "tiny"
    results = json.loads((run_dir / "results.json").read_text())
    teacher = next(m for m in results["models"] if m["role"] == "teacher")
    assert teacher["test"] == pytest.approx(scores_of_predictions(run_dir / "predictions" / "teacher_test.csv"),
                                            abs=1e-9)
    with open(run_dir / "predictions" / "teacher_test.csv", encoding="utf-8", newline="") as handle:
        predicted = list(csv.DictReader(handle))
    assert sorted(row["utterance_id"] for row in predicted) == sorted(
        f"test_dia{position // 3}_utt{position % 3}" for position in range(7)
    )
    assert {row["predicted_label"] for row in predicted} <= set(MELD_LABELS)
