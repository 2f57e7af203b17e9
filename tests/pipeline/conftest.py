"""One run of the whole pipeline on data/sample, shared by the end-to-end tests."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from utfall import keys
from utfall.run import run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_INBOX = ROOT / "data" / "sample" / "inbox"
CONFIG_DIR = ROOT / "config" / "kommuner"


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample_run")
    log_path = out / "run.log"
    handler = logging.FileHandler(log_path)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    try:
        summary = run(SAMPLE_INBOX, out / "utfall.duckdb", keys.demo(), CONFIG_DIR)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    return summary, log_path
