"""The test suite's seed shift, read here and nowhere else.

`SER_TEST_SEED_OFFSET=N` (an integer, default 0) adds N to every seed that starts a training run in
the tests: the stand-ins' initial weights and dropout (`training_stand_ins.py`,
`export_stand_ins.py`), `keras.utils.set_random_seed` before a test trains, the tiny BERT preset
of the job tests and the job's `--seed` (`job_runs.py`). Data stays as it is. A one-off run with
another offset (`SER_TEST_SEED_OFFSET=7 make test`) stands in for another machine's arithmetic:
a test whose threshold only holds on one training trajectory fails there. Tests that compare two
runs (resume, two workers, two replicas) shift both alike, so they still compare like with like.
"""

from __future__ import annotations

import os

#: Added to every training seed of the tests (`SER_TEST_SEED_OFFSET`, default 0; the job's --seed is >= 0).
SEED_OFFSET = int(os.environ.get("SER_TEST_SEED_OFFSET", "0") or 0)
if SEED_OFFSET < 0:
    raise ValueError(f"SER_TEST_SEED_OFFSET must be a non-negative integer; got {SEED_OFFSET}.")


def shifted(base: int) -> int:
    """`base` shifted by the suite's offset: the seed a test trains with."""
    return base + SEED_OFFSET
