"""utfall.quality on a hand-made core with exactly known problems.

1480 holds every problem; 1481 is clean, so each of its checks must pass with zero unexpected.
"""

from dataclasses import astuple
from datetime import date, datetime

import pytest

from tests.marts.coredb import CoreDb
from utfall import quality

pytestmark = pytest.mark.unit
AS_OF = date(2024, 6, 30)


def insert(con, table, *rows):
    marks = ", ".join("?" for _ in rows[0])
    con.executemany(f"insert into {table} values ({marks})", list(rows))


def episodes(db):
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 1), date(2023, 3, 31))
    db.episode("A", "1480", "PRAKTIK", date(2023, 3, 15), None)             # overlaps the one above
    db.episode("A", "1480", "KARTLAGGNING", date(2023, 2, 1), date(2023, 2, 28))  # other type
    db.episode("B", "1480", "KARTLAGGNING", date(2023, 5, 1), date(2023, 4, 1))   # end < start
    db.episode("C", "1480", "PRAKTIK", date(1985, 6, 1), date(1985, 12, 31))      # 1985 twice
    # unmapped type (null is allowed) with a placeholder end far past the ns range of pandas
    insert(db.con, "core.insats_episode",
           ("x1", "C", "1480", "excel", None, "eget projekt", date(2023, 1, 1),
            date(9999, 12, 31), None, None, None))
    db.episode("D", "1481", "ARBETSTRANING", date(2023, 2, 1), date(2023, 6, 30), "ARBETE")


def observations(db):
    db.observation("A", "1480", date(2023, 6, 30), "ARBETE")
    db.observation("A", "1480", date(2023, 7, 1), "JOBBAR")                       # not a code
    insert(db.con, "core.status_observation",
           ("A", "1480", date(2023, 8, 1), None, "vet inte", "excel", "REPORTED"))  # unmapped
    db.observation("D", "1481", date(2023, 9, 30), "ARBETE")


def fs_months(db):
    db.coverage("1480", "2023-01", "2023-06")
    db.fs("A", "1480", "2023-01", "2023-03")
    db.fs("A", "1480", "2023-08")                                                 # not covered
    db.coverage("1481", "2023-01", "2023-12")
    db.fs("D", "1481", "2023-02", "2023-04")


def assessments(db):
    db.assessment("A", "1480", date(2023, 2, 1), "SELF", "MOTIVATION", 3)
    db.assessment("A", "1480", date(2023, 2, 1), "STAFF", "MOTIVATION", 6)        # norm 1.25
    for ref, rater in [("101", "SELF"), ("101", "STAFF"), ("102", "SELF")]:     # two unlinked
        insert(db.con, "core.progression_assessment",
               (None, ref, "1480", date(2023, 3, 1), rater, "HALSA", 2, 1, 5, 0.25))
    db.assessment("D", "1481", date(2023, 3, 1), "SELF", "SPRAK", 2)


# the columns these rows give (meta.delivery has more, filled by ingest)
DELIVERY = ("meta.delivery (delivery_id, file_hash, path, kommun_kod, system, kind, status, "
            "message, period_start, period_end, rows_read, rows_loaded, rows_quarantined, "
            "rows_skipped, loaded_at, replaced_by, duplicate_of)")


def deliveries(db):
    insert(db.con, DELIVERY,
           ("d1", "h1", "1480/procapita/jan.csv", "1480", "procapita", "procapita_fs", "LOADED",
            None, date(2023, 1, 1), date(2023, 1, 31), 10, 7, 3, 0,
            datetime(2024, 1, 5), None, None),
           ("d2", "h2", "1481/excel/deltagare.xlsx", "1481", "excel", "excel_participants",
            "LOADED", None, None, None, 5, 4, 1, 0, datetime(2024, 1, 5), None, None),
           ("d3", "h3", "1480/procapita/feb.csv", "1480", "procapita", "procapita_fs", "LOADED",
            None, date(2023, 1, 1), date(2023, 2, 28), 1, 1, 0, 0,
            datetime(2024, 2, 5), None, None))
    q = "meta.quarantine"
    insert(db.con, q,
           ("d1", "1480/procapita/jan.csv", "1480", None, 5, "PNR_INVALID", "Personnummer", "m"),
           ("d1", "1480/procapita/jan.csv", "1480", None, 6, "PNR_INVALID", "Personnummer", "m"),
           ("d1", "1480/procapita/jan.csv", "1480", None, 7, "DATE_INVALID", "Avser månad", "m"),
           ("d2", "1481/excel/deltagare.xlsx", "1481", "Blad1", 3, "PNR_INVALID", "Pnr", "m"))
    # the same payment line twice in January's file, and once more in February's
    line = ["A", 1980, 1, "M", "H1", "SOKANDE", date(2023, 1, 1), date(2023, 1, 25), 5000,
            "Riksnorm", "FS", None, None]
    insert(db.con, "staging.procapita_fs_line",
           ("d1", "1480", 2, *line), ("d1", "1480", 3, *line),
           ("d1", "1480", 4, *line[:8], 700, *line[9:]),
           ("d3", "1480", 2, *line))


def problem_db():
    db = CoreDb()
    for key, sex in [("A", "M"), ("B", "K"), ("C", "K"), ("D", "M"), ("E", "X")]:
        db.person(key, 1980, 1, sex)
    episodes(db)
    observations(db)
    fs_months(db)
    assessments(db)
    deliveries(db)
    return db


@pytest.fixture(scope="module")
def checked():
    db = problem_db()
    return db, quality.run_checks(db.con, AS_OF)


def one(results, check, kommun, delivery=None):
    rows = [r for r in results
            if r.check_name == check and r.kommun_kod == kommun and r.delivery_id == delivery]
    assert len(rows) == 1, (check, kommun, delivery, rows)
    return rows[0]


def counts(results, check, kommun, delivery=None):
    r = one(results, check, kommun, delivery)
    return r.rows_checked, r.unexpected, r.passed


@pytest.mark.parametrize("check, kommun, expected", [
    ("insats_episode_end_before_start", "1480", (6, 1, False)),
    ("insats_episode_episode_id_unique", "1480", (6, 0, True)),
    ("insats_episode_overlap", "1480", (6, 2, False)),
    ("insats_episode_start_date_in_date_range", "1480", (6, 1, False)),
    ("insats_episode_end_date_in_date_range", "1480", (6, 2, False)),  # 1985 and 9999
    ("insats_episode_insats_typ_in_code_list", "1480", (6, 0, True)),  # null = unmapped: allowed
    ("status_observation_status_in_code_list", "1480", (3, 1, False)),
    ("fs_month_outside_coverage", "1480", (4, 1, False)),
    ("progression_assessment_score_norm_between_0_and_1", "1480", (5, 1, False)),
    ("progression_assessment_unlinked_participants", "1480", (3, 2, False)),
    ("progression_assessment_person_key_not_null", "1480", None),  # unlinked is allowed
    ("person_sex_in_code_list", None, (5, 1, False)),
    ("person_person_key_unique", None, (5, 0, True)),
])
def test_exact_unexpected_counts(checked, check, kommun, expected):
    _, results = checked
    if expected is None:
        assert not [r for r in results if r.check_name == check]
    else:
        assert counts(results, check, kommun) == expected


def test_quarantine_counts_per_reason_municipality_and_delivery(checked):
    _, results = checked
    rows = {(r.check_name, r.kommun_kod, r.delivery_id): (r.rows_checked, r.unexpected, r.passed,
                                                          r.severity)
            for r in results if r.table_name == "meta.quarantine"}
    assert rows == {
        ("quarantine_pnr_invalid", "1480", "d1"): (10, 2, False, "WARNING"),
        ("quarantine_date_invalid", "1480", "d1"): (10, 1, False, "WARNING"),
        ("quarantine_pnr_invalid", "1481", "d2"): (5, 1, False, "WARNING"),
    }


def test_duplicate_staging_rows_count_each_later_copy_against_its_delivery(checked):
    _, results = checked
    assert counts(results, "procapita_fs_line_duplicate_rows", "1480", "d1") == (3, 1, False)
    assert counts(results, "procapita_fs_line_duplicate_rows", "1480", "d3") == (1, 1, False)
    # an empty staging table still reports its check, as a pass
    assert counts(results, "skapa_assessment_duplicate_rows", None) == (0, 0, True)


def test_clean_municipality_and_not_null_checks_pass(checked):
    _, results = checked
    clean = [r for r in results if r.kommun_kod == "1481" and r.table_name.startswith("core.")]
    per_kommun_tables = ["core.insats_episode", "core.fs_month", "core.fs_coverage",
                         "core.status_observation", "core.progression_assessment"]
    assert len(clean) == sum(len(quality.checks_for_table(t)) for t in per_kommun_tables) == 45  # distance in its code list is the 45th
    assert [r.check_name for r in clean if not r.passed or r.unexpected != 0] == []
    assert all(r.passed for r in results if r.check_name.endswith("_not_null"))
    assert [r for r in results if r.error] == []


def test_an_episode_id_twice_fails_the_grain_check_of_its_municipality():
    """core has no primary keys (quality.EPISODE_ID_UNIQUE_SQL): the check is what guards the
    grain, so both rows of a repeated episode_id count."""
    db = problem_db()
    db.con.execute("insert into core.insats_episode select * from core.insats_episode "
                   "where kommun_kod = '1480' limit 1")
    results = quality.run_table_checks(db.con, "core.insats_episode", AS_OF)
    assert counts(results, "insats_episode_episode_id_unique", "1480") == (7, 2, False)
    assert counts(results, "insats_episode_episode_id_unique", "1481")[1:] == (0, True)
    assert one(results, "insats_episode_episode_id_unique", "1480").severity == "ERROR"


def test_a_person_key_twice_fails_uniqueness():
    db = problem_db()
    db.con.execute("insert into core.person select * from core.person where person_key = 'A'")
    results = quality.run_table_checks(db.con, "core.person", AS_OF)
    assert counts(results, "person_person_key_unique", None) == (6, 2, False)
    assert counts(results, "person_person_key_not_null", None) == (6, 0, True)


def test_severity_follows_what_breaks_downstream(checked):
    _, results = checked
    severity = {r.check_name: r.severity for r in results}
    assert severity["insats_episode_end_before_start"] == "ERROR"
    assert severity["status_observation_status_in_code_list"] == "ERROR"
    assert severity["insats_episode_kommun_kod_not_null"] == "ERROR"
    assert severity["insats_episode_overlap"] == "WARNING"
    assert severity["insats_episode_start_date_in_date_range"] == "WARNING"
    assert severity["progression_assessment_unlinked_participants"] == "WARNING"


def test_results_replace_meta_quality_check(checked):
    db, results = checked
    stored = db.con.execute(
        "select count(*), count(*) filter (where not passed) from meta.quality_check").fetchone()
    assert stored == (len(results), sum(not r.passed for r in results))
    row = db.con.execute(
        "select rows_checked, unexpected, passed, severity from meta.quality_check "
        "where check_name = 'insats_episode_end_before_start' and kommun_kod = '1480'").fetchall()
    assert row == [(6, 1, False, "ERROR")]


def test_checks_for_table_names_what_run_table_checks_reports(checked):
    _, results = checked
    for table in ["core.insats_episode", "core.person", "core.fs_month"]:
        reported = {r.check_name for r in results if r.table_name == table}
        assert reported == set(quality.checks_for_table(table))
    assert "quarantine_pnr_invalid" in quality.checks_for_table("meta.quarantine")


def test_broken_expectation_fails_with_error_and_others_still_count(monkeypatch):
    db = problem_db()
    broken = quality.Expect("core.insats_episode", "no_such_column", quality.IN_SET,
                            quality.ERROR, ("A",))
    monkeypatch.setattr(quality, "GX_CHECKS", [*quality.GX_CHECKS, broken])
    results = quality.run_table_checks(db.con, "core.insats_episode", AS_OF)
    for kommun in ["1480", "1481"]:
        r = one(results, broken.name, kommun)
        assert (r.passed, r.unexpected) == (False, None)
        assert "no_such_column" in r.error
    assert counts(results, "insats_episode_start_date_in_date_range", "1480") == (6, 1, False)
    assert counts(results, "insats_episode_overlap", "1480") == (6, 2, False)


def test_missing_table_fails_its_checks_with_error():
    db = CoreDb()
    db.con.execute("drop table core.fs_coverage")
    results = quality.run_checks(db.con, AS_OF)
    failed = {(r.check_name, r.unexpected, r.passed) for r in results if r.error}
    assert failed == {("fs_coverage_kommun_kod_not_null", None, False),
                      ("fs_coverage_month_not_null", None, False),
                      ("fs_month_outside_coverage", None, False)}
    stored = db.con.execute(
        "select count(*) from meta.quality_check where error is not null and not passed").fetchone()
    assert stored == (3,)


def test_checking_in_chunks_of_municipalities_gives_the_same_results(checked, monkeypatch):
    db, whole = checked
    monkeypatch.setattr(quality, "CHUNK_ROWS", 1)  # every municipality a frame of its own
    chunked = quality.run_checks(db.con, AS_OF)
    assert len({r.kommun_kod for r in chunked}) > 2
    assert sorted(map(astuple, chunked), key=repr) == sorted(map(astuple, whole), key=repr)
