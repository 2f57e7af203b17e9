import duckdb

from bench.compare_databases import differences


def _db(path, rows, extra_column=False):
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.kpi (kpi_id varchar, value double, loaded_at timestamp"
                    + (", kind varchar" if extra_column else "") + ")")
        for kpi, value, when in rows:
            con.execute("insert into marts.kpi (kpi_id, value, loaded_at) values (?, ?, ?)",
                        [kpi, value, when])
    return path


def test_the_same_rows_in_another_order_and_at_other_times_are_equal(tmp_path):
    a = _db(tmp_path / "a.duckdb", [("X", 1.0, "2024-01-01"), ("Y", 2.0, "2024-01-01")])
    b = _db(tmp_path / "b.duckdb", [("Y", 2.0, "2025-05-05"), ("X", 1.0, "2025-05-05")])
    assert differences(a, b) == []


def test_a_changed_value_a_missing_row_and_another_column_are_named(tmp_path):
    a = _db(tmp_path / "a.duckdb", [("X", 1.0, "2024-01-01"), ("Y", 2.0, "2024-01-01")])
    assert differences(a, _db(tmp_path / "b.duckdb", [("X", 1.0, None), ("Y", 2.5, None)])) == [
        "marts.kpi: other rows (2 / 2 rows)"]
    assert differences(a, _db(tmp_path / "c.duckdb", [("X", 1.0, None), ("X", 1.0, None)])) == [
        "marts.kpi: other rows (2 / 2 rows)"]  # a row twice is not the other row
    assert differences(a, _db(tmp_path / "d.duckdb", [("X", 1.0, None)], True)) == [
        "marts.kpi: other columns (kpi_id, value / kpi_id, value, kind)"]
