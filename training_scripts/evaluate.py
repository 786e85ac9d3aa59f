"""Evaluates exported models on a dataset's validation and test splits, in the Table II format.

    python training_scripts/evaluate.py --model saved_models/demo/export/teacher \\
        --model saved_models/demo/export/best_student
    python training_scripts/evaluate.py --model student.tflite --dataset iemocap --data-dir /data/IEMOCAP_full_release
    python training_scripts/evaluate.py --model saved_models/loso/export/teacher \
        --dataset iemocap --data-dir /data/IEMOCAP_full_release --protocol loso --fold session1

Models run as they are served (SavedModel or TFLite, raw audio and transcript in). Writes
results.md, results.json and results.png to --output-dir (default saved_models/evaluation).
A --protocol loso job's exports are the models of its first fold: --fold NAME scores them on that
fold's splits (the fold names are in the job's <run>/splits.csv; give the job's data flags).
Bad data, an unknown --fold or a --model that is not a model stop it with one message and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ser_keras.tensorflow_logs import add_verbose_flag, quiet_tensorflow_logs  # before TensorFlow loads

quiet_tensorflow_logs(sys.argv)


def main(argv: list[str] | None = None) -> int:
    """Runs the evaluation; returns the exit status (2: an error in the data or the flags).

    Example:

    >>> main(["--model", "saved_models/demo/export/teacher"])  # doctest: +SKIP
    0
    """
    from ser_keras.experiment.cli import USER_ERRORS, add_data_arguments, at_least, data_config_from_args, report_user_error
    from ser_keras.export.layout import ModelPathError

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="an export folder, SavedModel or .tflite (repeatable)")
    data_flags = add_data_arguments(parser)
    data_flags.add_argument("--fold", metavar="NAME",
                            help="score on this fold's validation and test splits (with --protocol loso: a job "
                                 "exports its first fold's models; <run>/splits.csv names the folds)")
    parser.add_argument("--latency-runs", type=at_least(0), default=50, help="timed batch-1 runs per model (default: 50)")
    parser.add_argument("--output-dir", default=os.path.join("saved_models", "evaluation"), help="(default: %(default)s)")
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from ser_keras.data.errors import DatasetError
    from ser_keras.experiment.data import job_folds, load_corpus, select_fold
    from ser_keras.experiment.evaluation import evaluate_exported
    from ser_keras.reporting import save_results

    try:
        data = data_config_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    try:
        corpus = load_corpus(data)
        folds = job_folds(corpus, data)
        if args.fold is not None:
            splits = select_fold(folds, args.fold, data)
        elif len(folds) > 1:
            raise DatasetError(
                f"evaluate.py scores exported models on one split; --protocol {data.protocol} gives {len(folds)} "
                f"folds ({', '.join(name for name, _ in folds)}), and each fold's models are its own: pass "
                f"--fold NAME (a job exports the models of its first fold, --fold {folds[0][0]}), or use "
                "--protocol single with the split the job used."
            )
        else:
            (_, splits), = folds
        results = evaluate_exported(args.model, splits, corpus.label_names, args.latency_runs)
    except (*USER_ERRORS, ModelPathError) as error:
        return report_user_error(parser.prog, error, args.verbose)
    title = f"Evaluation on {args.dataset}" + (f", fold {args.fold}" if args.fold is not None else "")
    paths = save_results(results, args.output_dir, title=title, class_names=corpus.label_names)
    print(open(paths["markdown"], encoding="utf-8").read())
    print(f"Written: {paths['markdown']}, {paths['json']}, {paths['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
