"""Computes VGGish embeddings for audio files and saves them to an .npz file.

    python training_scripts/embed_audio.py clip1.wav clip2.flac --output embeddings.npz
    python training_scripts/embed_audio.py --weights vggish_model.ckpt data/demo/audio/*.flac

Each file becomes one `[num_patches, 128]` array in the .npz, keyed by its path.
Unreadable files are reported and skipped (`--strict` stops at the first one).
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import sys

DEMO_GLOB = os.path.join(os.path.dirname(__file__), "..", "data", "demo", "audio", "*.flac")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", help="audio files (default: the first 8 demo clips)")
    parser.add_argument("--weights", default=None, help="VGGish checkpoint, SavedModel dir or TF-Hub handle (default: random, with a warning)")
    parser.add_argument("--output", default="saved_models/vggish_embeddings.npz", help="where to write the .npz (default: %(default)s)")
    parser.add_argument("--max-patches", type=int, default=64, help="cap on 0.96 s patches per clip (default: %(default)s)")
    parser.add_argument("--strict", action="store_true", help="stop at the first unreadable file instead of skipping it")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    files = args.files or sorted(glob.glob(DEMO_GLOB))[:8]
    if not files:
        logging.error("No audio files given and no demo corpus found at %s.", DEMO_GLOB)
        return 2

    import numpy as np

    from ser_keras.audio import AudioReadError, load_audio, waveform_to_examples
    from ser_keras.vggish import build_vggish

    model = build_vggish(weights=args.weights)
    embeddings, skipped = {}, []
    for path in files:
        try:
            patches = waveform_to_examples(load_audio(path), max_patches=args.max_patches)
        except AudioReadError as error:
            if args.strict:
                raise
            logging.warning("Skipped: %s", error)
            skipped.append(path)
            continue
        embeddings[path] = model.predict(patches, verbose=0)
        logging.info("%s: %d patches -> %s", path, len(patches), embeddings[path].shape)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    np.savez(args.output, **embeddings)
    logging.info("Wrote %d embeddings to %s (%d files skipped).", len(embeddings), args.output, len(skipped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
