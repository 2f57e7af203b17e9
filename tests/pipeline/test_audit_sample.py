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
