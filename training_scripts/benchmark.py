"""Benchmarks of the 3M-SER teacher and students.

    python training_scripts/benchmark.py --params           # Table I, markdown
    python training_scripts/benchmark.py --params --json    # exact counts, JSON
    python training_scripts/benchmark.py --params --text-preset path/to/bert --layers 6 2

`--params` counts parameters per component (BERT embeddings, transformer layers,
pooler, VGGish, fusion head) for the teacher and each student. By default it
uses the `bert_base_en_uncased` architecture with random weights (nothing is
downloaded) and prints the paper's "Total Params" beside the reproduced figure.
"""

from __future__ import annotations

import argparse
import logging
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", action="store_true", help="print the parameter table (Table I)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument(
        "--text-preset",
        default=None,
        help="count this BERT preset's architecture instead of bert_base_en_uncased (no weights are loaded)",
    )
    parser.add_argument("--layers", type=int, nargs="+", default=None, help="text layers per row (default: 12 6 4 2)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.params:
        logging.error("Nothing to do: pass --params (the parameter table).")
        return 2

    from ser_keras.models.params import parameter_table, parameter_table_json, parameter_table_markdown

    text_encoder = None
    if args.text_preset is not None:
        from ser_keras.text import load_text_encoder

        text_encoder = load_text_encoder(args.text_preset, load_weights=False)
    rows = parameter_table(text_encoder, layer_counts=args.layers)
    print(parameter_table_json(rows) if args.json else parameter_table_markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
