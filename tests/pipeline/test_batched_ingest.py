"""Ingest by layout, not by file (issue 24): the database of a batched ingest equals the one of
a per-file ingest, table by table, on the sample; so does every file's outcome. The same
comparison on a benchmark inbox: `python -m bench.limit_probe --inbox ... --compare`."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from bench.compare_databases import compare
from tests.pipeline.conftest import CONFIG_DIR, SAMPLE_INBOX
from utfall import keys, reading, transform
from utfall.adapters.config import ConfigStore
from utfall.ingest import ingest

TODAY = date(2026, 11, 23)


def _ingested(tmp_path, name: str, **how):
    path = tmp_path / f"{name}.duckdb"
    con = duckdb.connect(str(path))
    transform.create_schemas(con)
    summary = ingest(con, SAMPLE_INBOX, ConfigStore(CONFIG_DIR), keys.demo(), TODAY, **how)
    con.close()
    return path, summary.files


def _outcomes(files) -> list[tuple]:
    return [(f.rel_path, f.status, f.message, f.rows_read, f.rows_loaded, f.rows_quarantined,
             f.rows_skipped, f.change) for f in files]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_batched_ingest_equals_the_per_file_one_table_by_table(tmp_path, monkeypatch,
                                                                  workers):
    monkeypatch.setattr(reading, "PARALLEL_FROM_FILES", 1)
    per_file, per_file_outcomes = _ingested(tmp_path, "per-file", workers=workers,
                                            batched=False)
    batched, batched_outcomes = _ingested(tmp_path, "batched", workers=workers, batched=True)

    assert not any(f.batched for f in per_file_outcomes)
    in_batches = [f.rel_path for f in batched_outcomes if f.batched]
    # Göteborg's 42 monthly files, Kungsbacka's four yearly ones (a fifth is a duplicate) and
    # Stenungsund's two share a layout each; the other Procapita files have layouts of their own
    assert sum(path.startswith("1480/procapita/ekb_") for path in in_batches) == 42
    assert len(in_batches) == 48
    assert _outcomes(batched_outcomes) == _outcomes(per_file_outcomes)
    counts, problems = compare(per_file, batched)
    assert problems == []
    assert counts["staging.procapita_fs_line"] > 15_000
    assert counts["meta.quarantine"] > 0


def test_small_batches_split_anywhere_give_the_same_database(tmp_path, monkeypatch):
    """Batches cut at every few files (and between layouts) change nothing."""
    monkeypatch.setattr(reading, "BATCH_FILES", 3)
    per_file, _ = _ingested(tmp_path, "per-file", workers=1, batched=False)
    batched, outcomes = _ingested(tmp_path, "batched", workers=1, batched=True)
    assert sum(f.batched for f in outcomes) >= 40
    assert compare(per_file, batched)[1] == []


def test_the_environment_chooses_per_file(tmp_path, monkeypatch):
    monkeypatch.setenv("UTFALL_INGEST", "per-file")
    _, outcomes = _ingested(tmp_path, "env", workers=1)
    assert not any(f.batched for f in outcomes)
    monkeypatch.setenv("UTFALL_INGEST", "sometimes")
    with pytest.raises(ValueError, match="UTFALL_INGEST"):
        reading.batched_by_default()
