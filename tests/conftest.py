"""Shared test setup: quiet TensorFlow logs, deterministic seeds.

`SER_TEST_SEED_OFFSET=N` shifts every training seed of the suite by N (see seed_offset.py): a
one-off run with another offset stands in for another machine's training arithmetic.
"""

import os

from seed_offset import SEED_OFFSET

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def pytest_report_header(config):
    return f"training seeds shifted by SER_TEST_SEED_OFFSET={SEED_OFFSET}"
