"""The SQL marts against the independent pandas reading of metrics.md (bench/pandas_kpis.py) on the
bundled sample: both tables identical row by row, and every KPI and breakdown of metrics.md in it."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from bench.pandas_kpis import compute_both, load_core
from tests.test_pandas_reference import differences
from utfall.marts.catalogue import CATALOGUE
from utfall.schemas.codes import BREAKDOWNS


@pytest.fixture(scope="module")
def frames(sample_run):
    summary, _ = sample_run
    assert summary.as_of == date(2024, 6, 30)
    with duckdb.connect(str(summary.db_path), read_only=True) as con:
        sql = con.execute("select * from marts.kpi_value").df()
        sql_pub = con.execute("select * from marts.kpi_published").df()
        mine, mine_pub = compute_both(load_core(con), summary.as_of, 5)
    return sql, mine, sql_pub, mine_pub


@pytest.mark.pipeline
@pytest.mark.parametrize("table", ["kpi_value", "kpi_published"])
def test_the_sample_sql_equals_pandas(frames, table):
    sql, mine, sql_pub, mine_pub = frames
    a, b = (sql, mine) if table == "kpi_value" else (sql_pub, mine_pub)
    diff = differences(a, b)
    assert not diff, f"{table}: {len(diff)} differences:\n" + "\n".join(diff[:25])
    assert len(a) == len(b) > 10_000


@pytest.mark.pipeline
def test_the_sample_has_every_kpi_and_every_referral_and_distance(frames):
    sql, _, sql_pub, _ = frames
    assert set(sql.kpi_id) == {k.kpi_id for k in CATALOGUE}
    for dim in ("REMITTERAD", "AVSTAND"):
        seen = set(sql[(sql.dimension == dim) & (sql.kommun_kod == "ALLA")].dimension_value)
        assert seen == set(BREAKDOWNS[dim][0]), dim
    shown = sql_pub[sql_pub.kpi_id.str.endswith("_AVVIKELSE") & ~sql_pub.suppressed]
    assert len(shown) > 0 and shown.numerator.isna().all() and shown.ci_low.notna().all()
