"""Evaluates exported models on a dataset's validation and test splits, in the Table II format.

    python training_scripts/evaluate.py --model saved_models/demo/export/teacher \\
        --model saved_models/demo/export/best_student
    python training_scripts/evaluate.py --model student.tflite --dataset iemocap --data-dir /data/IEMOCAP_full_release

Models run as they are served (SavedModel or TFLite, raw audio and transcript in). Writes
results.md, results.json and results.png to --output-dir (default saved_models/evaluation).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ser_keras.tensorflow_logs import add_verbose_flag, quiet_tensorflow_logs  # before TensorFlow loads

quiet_tensorflow_logs(sys.argv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="an export folder, SavedModel or .tflite (repeatable)")
    parser.add_argument("--dataset", choices=("demo", "iemocap", "manifest"), default="demo", help="(default: %(default)s)")
    parser.add_argument("--data-dir", help="the unpacked IEMOCAP_full_release directory")
    parser.add_argument("--manifest", help="a manifest CSV")
    parser.add_argument("--split", choices=("auto", "paper", "manifest", "split-file"), default="auto", help="(default: %(default)s)")
    parser.add_argument("--split-file", help="CSV of utterance_id,split (selects it)")
    parser.add_argument("--split-seed", type=int, default=0, help="the job's --split-seed (default: %(default)s)")
    parser.add_argument("--limit-per-split", type=int, help="use at most this many clips per split")
    parser.add_argument("--latency-runs", type=int, default=50, help="timed batch-1 runs per model (default: 50)")
    parser.add_argument("--output-dir", default=os.path.join("saved_models", "evaluation"), help="(default: %(default)s)")
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from ser_keras.config import DataConfig
    from ser_keras.experiment.data import job_folds, load_corpus
    from ser_keras.experiment.evaluation import evaluate_exported
    from ser_keras.reporting import save_results

    try:
        data = DataConfig(
            dataset=args.dataset, data_dir=args.data_dir, manifest=args.manifest, split=args.split,
            split_file=args.split_file, split_seed=args.split_seed, limit_per_split=args.limit_per_split,
        )
    except ValueError as error:
        parser.error(str(error))
    corpus = load_corpus(data)
    (_, splits), = job_folds(corpus, data)
    results = evaluate_exported(args.model, splits, corpus.label_names, args.latency_runs)
    paths = save_results(results, args.output_dir, title=f"Evaluation on {args.dataset}")
    print(open(paths["markdown"], encoding="utf-8").read())
    print(f"Written: {paths['markdown']}, {paths['json']}, {paths['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
