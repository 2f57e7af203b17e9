"""utfall audit on the bundled sample: no count below min_cell can be pinned (privacy.md "Small
cells"), measured against the exact table too."""

import duckdb
import pytest

from utfall.marts.audit import audit


@pytest.mark.pipeline
def test_the_sample_pins_no_small_count(sample_run):
    summary, _ = sample_run
    with duckdb.connect(str(summary.db_path), read_only=True) as con:
        published = con.execute("select count(*) from marts.kpi_published").fetchone()[0]
        r = audit(con)
    assert published > 0, "marts.kpi_published is empty: the published table is not built"
    assert r.rows == published and r.cells_checked > 1000
    assert r.infeasible_components == 0
    assert r.truth_available and r.truth_violations == 0  # every relation holds for the truth
    assert r.pinned == 0 and r.pinned_below_min_cell == 0
    assert r.true_small > 1000 and r.true_small_pinned == 0


@pytest.mark.pipeline
def test_the_run_audits_and_the_report_says_so(sample_run):
    summary, _ = sample_run
    assert summary.audit_safe is True
    with duckdb.connect(str(summary.db_path), read_only=True) as con:
        audited, pinned, safe, text = con.execute(
            "select audited, pinned, safe, summary_sv from meta.disclosure_audit").fetchone()
    assert (audited, pinned, safe) == (True, 0, True)
    assert text == summary.audit_summary and text.startswith("Granskning av den publicerade")
    page = summary.report_path.read_text(encoding="utf-8")
    quality = page[page.index('<section id="datakvalitet"'):]
    assert "Skydd för enskilda: granskning av de publicerade talen" in quality
    assert text.replace("\u00a0", "&nbsp;") in quality or text in quality
    assert "Får inte lämnas ut" not in page


@pytest.mark.pipeline
def test_a_table_above_the_runs_cap_is_left_to_utfall_audit_and_said(sample_run, tmp_path,
                                                                    monkeypatch):
    """The run audits a published table of at most AUDIT_MAX_ROWS rows; a larger one is recorded
    as not audited, with the sentence that tells the analyst to run `utfall audit`."""
    import shutil

    import utfall.run as run_module
    from tests.pipeline.conftest import CONFIG_DIR, SAMPLE_INBOX
    from utfall import keys

    summary, _ = sample_run
    with duckdb.connect(str(summary.db_path), read_only=True) as con:
        (rows,) = con.execute("select count(*) from marts.kpi_published").fetchone()
    assert 0 < rows <= run_module.AUDIT_MAX_ROWS  # the sample is audited in every run
    monkeypatch.setattr(run_module, "AUDIT_MAX_ROWS", rows - 1)
    db = tmp_path / "u.duckdb"
    shutil.copy(summary.db_path, db)
    after = run_module.run(SAMPLE_INBOX, db, keys.demo(), CONFIG_DIR, write_report=False,
                           rebuild=True)
    text = (f"Granskningen av den publicerade tabellen ({rows} rader) görs inte i körningen; "
            "kör utfall audit innan tabellen lämnas ut.")
    assert (after.audit_safe, after.audit_summary) == (None, text)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select audited, published_rows, pinned, safe, summary_sv "
                           "from meta.disclosure_audit").fetchall() == [
            (False, rows, None, None, text)]
