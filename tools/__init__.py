"""Repository tools that are not part of the installed library (`pip install .` ships `ser_keras` only).

- `demo_corpus`: the espeak-ng generator of the shipped demo corpus under `data/demo/`, run by
  `training_scripts/make_demo_corpus.py` and checked by `tests/test_demo_corpus.py`.

They import `ser_keras`; nothing in `ser_keras` imports them.
"""
