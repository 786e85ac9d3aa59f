"""The text-only teacher on MELD: stage-2 variants scored on the dev split (and, once chosen, test).

The study behind docs/RESULTS.md, "MELD". Each variant trains the offline MiniLM teacher
(6 layers, text only, default recipe, seed 0 unless `--seed`) through the job's own `FoldTrainer`, so a
variant equals the job run with the flags named beside it; the teacher's stage 1 does not
depend on stage 2's settings, so a variant that only changes stage 2 starts from a copy of
the stage-1 checkpoint of an earlier variant (`--stage1-from`) instead of training it again.

    python docs/studies/meld_text_teacher.py /path/to/MELD/data/MELD out/base
    python docs/studies/meld_text_teacher.py /path/to/MELD/data/MELD out/llrd --layer-decay 0.8 \\
        --stage1-from out/base/teacher/transfer
    python docs/studies/meld_text_teacher.py /path/to/MELD/data/MELD out/sentence --sentence-logits \\
        --transfer-epochs 8
    python docs/studies/meld_text_teacher.py /path/to/MELD/data/MELD out/smooth --label-smoothing 0.1
    python docs/studies/meld_text_teacher.py /path/to/MELD/data/MELD out/dropout --head-dropout 0.1
    python docs/studies/meld_text_teacher.py /path/to/MELD/data/MELD out/balanced --class-weighting balanced
    python docs/studies/meld_text_teacher.py /path/to/MELD/data/MELD out/lr1e-5 --finetune-lr 1e-5 \\
        --finetune-epochs 5 --stage1-from out/base/teacher/transfer
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil

from ser_keras.config import CLASS_WEIGHTINGS, DEFAULT_HEAD_DROPOUT, DataConfig, get_recipe
from ser_keras.data import EncoderCache
from ser_keras.experiment.cli import with_finetune_flags
from ser_keras.experiment.data import job_folds, load_corpus
from ser_keras.experiment.trainer import FoldData, FoldTrainer
from ser_keras.text import load_text_encoder
from ser_keras.text.tokenizer import load_text_preprocessor
from ser_keras.training.seeds import seed_process
from ser_keras.training.strategy import get_strategy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", help="the folder of MELD's *_sent_emo.csv files")
    parser.add_argument("output_dir")
    parser.add_argument("--layer-decay", type=float, default=None, help="stage 2 (job: --layer-decay)")
    parser.add_argument("--finetune-lr", type=float, default=None, help="stage 2 (job: --finetune-lr)")
    parser.add_argument("--warmup-steps", type=int, default=None, help="stage 2 (job: --warmup-steps)")
    parser.add_argument("--finetune-epochs", type=int, default=None, help="stage 2 (job: --finetune-epochs)")
    parser.add_argument("--sentence-logits", action="store_true")
    parser.add_argument("--label-smoothing", type=float, default=None, help="stages 1 and 2 (job: --label-smoothing)")
    parser.add_argument("--class-weighting", choices=CLASS_WEIGHTINGS, default=None,
                        help="stages 1 and 2 (job: --class-weighting)")
    parser.add_argument("--head-dropout", type=float, default=DEFAULT_HEAD_DROPOUT,
                        help="the fusion head's (job: --head-dropout)")
    parser.add_argument("--pooling", choices=("cls", "mean", "max"), default="cls", help="the head's readout (job: --pooling)")
    parser.add_argument("--transfer-epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="the recipe's seed (the split is MELD's own)")
    parser.add_argument("--stage1-from", help="a finished stage-1 folder (<variant>/teacher/transfer) to start from")
    parser.add_argument("--cache-dir", default=None, help="(default: <output_dir>/../cache)")
    args = parser.parse_args()
    stage_one_flags = {
        "--sentence-logits": args.sentence_logits, "--label-smoothing": args.label_smoothing is not None,
        "--class-weighting": args.class_weighting is not None, "--pooling": args.pooling != "cls",
        "--head-dropout": args.head_dropout != DEFAULT_HEAD_DROPOUT, "--transfer-epochs": args.transfer_epochs is not None,
    }
    if args.stage1_from and any(stage_one_flags.values()):
        given = ", ".join(flag for flag, set_ in stage_one_flags.items() if set_)
        parser.error(f"{given} change stage 1: train it (leave out --stage1-from).")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    seed_process(args.seed)  # as the job does: a variant trains as the job's model with its flags, to the bit

    data = DataConfig(dataset="meld", data_dir=args.data_dir)
    corpus = load_corpus(data)
    ((_, splits),) = job_folds(corpus, data)
    recipe = get_recipe("demo", seed=args.seed)
    recipe = with_finetune_flags(recipe, args)
    if args.finetune_epochs is not None:
        recipe = recipe.with_finetune_epochs(args.finetune_epochs)
    if args.transfer_epochs is not None:
        recipe = dataclasses.replace(recipe, transfer=dataclasses.replace(recipe.transfer, epochs=args.transfer_epochs))
    if args.label_smoothing is not None:
        recipe = dataclasses.replace(recipe, label_smoothing=args.label_smoothing)
    if args.class_weighting is not None:
        recipe = dataclasses.replace(recipe, class_weighting=args.class_weighting)

    strategy = get_strategy()
    preprocessor = load_text_preprocessor(None, data.sequence_length)
    with strategy.scope():
        encoder = load_text_encoder(None)
    cache = EncoderCache(args.cache_dir or os.path.join(os.path.dirname(args.output_dir.rstrip("/")), "cache"))
    features = cache.text_features([*splits.train, *splits.validation, *splits.test], encoder, preprocessor)
    if args.stage1_from and not os.path.isdir(os.path.join(args.output_dir, "teacher", "transfer")):
        shutil.copytree(args.stage1_from, os.path.join(args.output_dir, "teacher", "transfer"),
                        ignore=shutil.ignore_patterns("backup"))
    fold = FoldData("main", splits, os.path.join(args.output_dir, "tensorboard"), tuple(corpus.label_names))
    trainer = FoldTrainer(fold, recipe, preprocessor, None, strategy, pooling=args.pooling, modality="text",
                          sentence_logits=args.sentence_logits, head_dropout=args.head_dropout)
    teacher = trainer.train("teacher", args.output_dir, encoder, features)
    rows = {stage: record["history"].get("val_acc") for stage, record in teacher.stages.items()}
    rows.update({split: trainer.evaluate(teacher, items)["scores"]
                 for split, items in (("dev", splits.validation), ("test", splits.test))})
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
