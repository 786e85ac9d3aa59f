"""Regenerates the shipped synthetic demo corpus with espeak-ng.

    python training_scripts/make_demo_corpus.py --output-dir data/demo --seed 0

Writes `audio/*.flac`, `manifest.csv` and `README.md` into the output folder. The
result is deterministic: the same seed (and the same espeak-ng, soxr and libsndfile
versions) gives the same files. Needs espeak-ng (`apt-get install espeak-ng`);
using the committed corpus does not. The generator is `tools/demo_corpus.py`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

REPO_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEMO_DIR = os.path.join(REPO_ROOT, "data", "demo")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default=os.path.normpath(DEMO_DIR), help="corpus folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default: %(default)s)")
    parser.add_argument("--clips-per-voice", type=int, default=72,
                        help="clips per voice, a multiple of 4 (default: %(default)s)")
    parser.add_argument("--num-workers", type=int, default=os.cpu_count() or 1,
                        help="espeak-ng processes in parallel; does not change the output (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if REPO_ROOT not in sys.path:  # the generator lives in the repository's tools/, not in ser_keras
        sys.path.insert(0, REPO_ROOT)
    from tools.demo_corpus import DemoCorpusConfig, EspeakNotFoundError, generate_demo_corpus

    try:
        config = DemoCorpusConfig(seed=args.seed, clips_per_voice=args.clips_per_voice)
        generate_demo_corpus(args.output_dir, config, num_workers=args.num_workers)
    except (EspeakNotFoundError, ValueError) as error:
        logging.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
