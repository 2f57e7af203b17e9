"""A tiny hand-made core, for testing the marts without going through adapters."""

from __future__ import annotations

from datetime import date

import duckdb

from utfall import transform


def month_range(first: str, last: str) -> list[date]:
    y, m = map(int, first.split("-"))
    ly, lm = map(int, last.split("-"))
    out = []
    while (y, m) <= (ly, lm):
        out.append(date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


class CoreDb:
    def __init__(self):
        self.con = duckdb.connect()
        transform.create_schemas(self.con)
        self._episodes = 0

    def person(self, key, birth_year, birth_month, sex, born_abroad=None):
        self.con.execute("insert into core.person values (?, ?, ?, ?, ?)",
                         [key, birth_year, birth_month, sex, born_abroad])

    def coverage(self, kommun, first, last):
        self.con.executemany("insert into core.fs_coverage values (?, ?)",
                             [(kommun, m) for m in month_range(first, last)])

    def fs(self, key, kommun, first, last=None, amount=5000.0):
        self.con.executemany("insert into core.fs_month values (?, ?, ?, ?, 0, null)",
                             [(key, kommun, m, amount) for m in month_range(first, last or first)])

    def episode(self, key, kommun, typ, start, end=None, reason=None, system="procapita",
                referred=None, distance=None):
        self._episodes += 1
        self.con.execute(
            "insert into core.insats_episode values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [f"e{self._episodes:04d}", key, kommun, system, typ, typ.lower(), start, end, reason,
             referred, distance])

    def observation(self, key, kommun, observed_on, status, basis="FOLLOWUP"):
        self.con.execute("insert into core.status_observation values (?, ?, ?, ?, ?, 'excel', ?)",
                         [key, kommun, observed_on, status, status.lower(), basis])

    def assessment(self, key, kommun, on, rater, dimension, score, lo=1, hi=5):
        self.con.execute(
            "insert into core.progression_assessment values (?, null, ?, ?, ?, ?, ?, ?, ?, ?)",
            [key, kommun, on, rater, dimension, score, lo, hi, (score - lo) / (hi - lo)])

    def build(self, as_of: date, min_cell: int = 5):
        transform.build_marts(self.con, as_of, min_cell)
        return self

    def spell(self, **where):
        cond = " and ".join(f"{k} = ?" for k in where) or "true"
        return self.con.execute(f"select * from marts.participation_spell where {cond}",
                                list(where.values())).df()

    def kpi(self, kpi_id, kommun="1480", period="2023", dimension="TOTAL", value="ALLA"):
        """The exact row (marts.kpi_value): numerator, denominator, value, ci_low, ci_high."""
        return self._row("kpi_value", "numerator, denominator, value, ci_low, ci_high",
                         kpi_id, kommun, period, dimension, value)

    def published(self, kpi_id, kommun="1480", period="2023", dimension="TOTAL", value="ALLA"):
        """The published row: numerator, denominator, value, ci_low, ci_high, suppressed."""
        return self._row("kpi_published", "numerator, denominator, value, ci_low, ci_high, suppressed",
                         kpi_id, kommun, period, dimension, value)

    def _row(self, table, columns, kpi_id, kommun, period, dimension, value):
        rows = self.con.execute(
            f"select {columns} from marts.{table} where kpi_id = ? and kommun_kod = ? "
            "and period = ? and dimension = ? and dimension_value = ?",
            [kpi_id, kommun, period, dimension, value]).fetchall()
        assert len(rows) <= 1
        return rows[0] if rows else None


def worked_example() -> CoreDb:
    """metrics.md's worked example as a core, not yet built."""
    db = CoreDb()
    db.person("P", 1990, 5, "K")
    db.coverage("1480", "2022-01", "2024-06")
    db.fs("P", "1480", "2022-10", "2023-05")
    db.fs("P", "1480", "2023-09")
    db.episode("P", "1480", "KARTLAGGNING", date(2023, 1, 9), date(2023, 1, 31))
    db.episode("P", "1480", "PRAKTIK", date(2023, 2, 20), date(2023, 5, 15), "ARBETE")
    # excel follow-up: "Status 3 mån" = jobb refers to end + 3 months; "Status 12 mån" blank
    db.observation("P", "1480", date(2023, 8, 15), "ARBETE")
    return db
