"""Dagster: one build, two ways in. The job build_all runs the same build as `utfall run` (lock,
key check, work copy, meta tables) and gives the same database and report; assets and checks
come from the contracts and the build's own results; the sensor starts one build per batch."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from tests.pipeline.conftest import CONFIG_DIR, ROOT, SAMPLE_INBOX
from utfall import keys, quality, transform
from utfall.cli import main
from utfall.dictionary import column_meanings, contracts
from utfall.lock import writer_lock
from utfall.pipelines import checks
from utfall.pipelines.contracts import tables
from utfall.pipelines.definitions import defs, inbox_sensor, kommun_partitions, monthly_build
from utfall.pipelines.markdown import code, plain
from utfall.pipelines.settings import UtfallSettings

pytestmark = pytest.mark.pipeline

EXPECTED_KEYS = {
    "inbox/deliveries",
    "staging/procapita_fs_line", "staging/procapita_household_member", "staging/procapita_insats",
    "staging/excel_participant", "staging/excel_status", "staging/skapa_assessment",
    "meta/delivery", "meta/quarantine", "meta/unmapped_value", "meta/inbox_problem",
    "meta/installation", "meta/run", "meta/run_fingerprint", "meta/run_warning", "meta/core_part",
    "meta/quality_check",
    "meta/disclosure_audit", "meta/source_column", "meta/unknown_header",
    "meta/field_completeness",
    "core/person", "core/insats_episode", "core/fs_month", "core/fs_coverage",
    "core/status_observation", "core/progression_assessment",
    "marts/participation_spell", "marts/kpi", "marts/kpi_value", "marts/kpi_published",
    "report/comparison_html",
}
KOMMUNER = ["1384", "1401", "1402", "1415", "1480"]
# Differ between any two builds of the same inbox: when, and which run. Everything else, doubles
# included, must be equal (sums that depend on thread order are taken as decimals in the marts).
VOLATILE = {"run_id", "started_at", "finished_at", "created_at", "loaded_at", "seconds"}


def test_asset_keys_are_every_contract_table_and_groups_are_layers():
    graph = defs.resolve_asset_graph()
    names = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert names == EXPECTED_KEYS  # a rename must be deliberate: change this list with it
    assert {f"{s}/{t}" for s, t, _ in tables()} == EXPECTED_KEYS - {"inbox/deliveries",
                                                                    "report/comparison_html"}
    for key in graph.get_all_asset_keys():
        assert graph.get(key).group_name == key.path[0]


def test_the_report_depends_on_the_published_table_not_the_exact_one():
    graph = defs.resolve_asset_graph()
    deps = graph.get(dg.AssetKey(["report", "comparison_html"])).parent_keys
    assert {k.to_user_string() for k in deps} == {"marts/kpi_published", "marts/kpi"}


def test_descriptions_and_column_schemas_come_from_the_contracts():
    graph = defs.resolve_asset_graph()
    notes, _ = contracts()
    episode = graph.get(dg.AssetKey(["core", "insats_episode"]))
    assert episode.description == notes[("core", "insats_episode")][0] != ""
    columns = {c.name: c for c in episode.metadata["dagster/column_schema"].columns}
    meanings = column_meanings()["core.insats_episode"]
    assert list(columns) == list(meanings)
    assert columns["person_key"].description == meanings["person_key"] != ""
    assert columns["start_date"].constraints.nullable is False
    core = [graph.get(dg.AssetKey(["core", t])).description for s, t, _ in tables() if s == "core"]
    assert len(set(core)) == len(core)  # every core table says what it is


def test_the_build_job_runs_the_whole_graph_with_every_check():
    job = defs.resolve_job_def("build_all")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == EXPECTED_KEYS - {
        "inbox/deliveries"}
    check_names = {(k.asset_key.to_user_string(), k.name)
                   for k in job.asset_layer.asset_graph.asset_check_keys}
    assert ("core/progression_assessment", "quality") in check_names
    assert ("meta/delivery", "delivery_freshness") in check_names
    assert ("marts/kpi_published", "disclosure_audit") in check_names
    assert len(check_names) == 16  # 14 tables utfall.quality checks, the audit, freshness


def test_sensor_and_schedule_are_on_without_a_click():
    assert inbox_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert monthly_build.default_status == dg.DefaultScheduleStatus.RUNNING
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 12, 2, 6))
    assert monthly_build(context).run_key == "monthly:2026-12"


def test_definitions_load_without_deprecation_warnings():
    code = ("import warnings; warnings.simplefilter('always'); "
            "import utfall.pipelines.definitions as d; d.defs.resolve_asset_graph(); "
            "d.defs.resolve_job_def('build_all')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONWARNINGS": "always"}, check=True)
    assert "Warning" not in done.stderr, done.stderr


# --- descriptions, as the UI renders them (Markdown) ----------------------------------------------

MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# What the descriptions may use: paragraphs, code spans and, in a check's result, a list.
PLAIN_BLOCKS = {"paragraph_open", "paragraph_close", "inline", "bullet_list_open",
                "bullet_list_close", "list_item_open", "list_item_close"}
PLAIN_INLINE = {"text", "softbreak", "code_inline"}


def _rendered(text: str) -> str:
    """The text a reader of the UI sees. Raw HTML (`<inbox>` outside a code span) is dropped, as
    the UI's sanitiser drops it; anything beyond PLAIN_BLOCKS and PLAIN_INLINE fails."""
    tokens = MARKDOWN.parse(text)
    assert {t.type for t in tokens} <= PLAIN_BLOCKS, text
    inline = [c for t in tokens if t.type == "inline" for c in t.children]
    assert {c.type for c in inline} <= PLAIN_INLINE, (text, {c.type for c in inline})
    return "".join("\n" if c.type == "softbreak" else c.content for c in inline)


def _descriptions() -> dict[str, str | None]:
    graph = defs.resolve_asset_graph()
    found = {k.to_user_string(): graph.get(k).description for k in graph.get_all_asset_keys()}
    found |= {f"{k.asset_key.to_user_string()} check {k.name}": graph.get_check_spec(k).description
              for k in graph.asset_check_keys}
    return found | {"job build_all": defs.resolve_job_def("build_all").description,
                    "sensor inbox_sensor": inbox_sensor.description,
                    "schedule monthly_build": monthly_build.description}


def test_every_description_renders_as_written():
    descriptions = _descriptions()
    assert len(descriptions) == len(EXPECTED_KEYS) + 16 + 3
    for name, text in descriptions.items():
        assert text and text.strip(), name
        shown = _rendered(text)
        assert "//" not in shown.replace("://", "") and "`" not in shown, (name, shown)
        assert len(shown) >= len(text) - 2 * text.count("`"), (name, shown)  # nothing dropped
    inbox = _rendered(descriptions["inbox/deliveries"])
    assert inbox.startswith("The files as delivered, <inbox>/<kommunkod>/<system>/<file>: the raw")
    assert ("as <db>-rapport.html (above 16 municipalities with the folder <db>-rapport/ of pages "
            "beside it);") in _rendered(descriptions["report/comparison_html"])
    assert "a file outside <kommunkod>/<system>/, a folder" in _rendered(
        descriptions["meta/inbox_problem"])


def test_paths_from_the_settings_render_as_written(monkeypatch):
    monkeypatch.delenv(keys.ENV_VAR, raising=False)
    odd = UtfallSettings(inbox="/srv/_inkorg_/<ny>", db="/data/*utfall*.duckdb",
                         config_dir="C:\\kommuner\\_gr_", key_file="/k/`nyckel`")
    assert _rendered(odd.describe()) == (
        "Inbox /srv/_inkorg_/<ny>; database /data/*utfall*.duckdb (report beside it); "
        "configuration C:\\kommuner\\_gr_; pseudonymised with the key file /k/`nyckel`.")


def test_plain_text_becomes_markdown_that_shows_it_unchanged():
    for text in ("a file outside <kommunkod>/<system>/, a folder", "as <db>-rapport.html; w",
                 "x * y, [see] this and _that_", "keep `utfall audit` as code", "replaced_by)."):
        assert _rendered(plain(text)) == text.replace("`", "")
    assert plain("one row per person_key (unique).") == "one row per person_key (unique)."
    assert code("a`b") == "``a`b``" and _rendered(code("`x`")) == "`x`"


# --- checks that count what was checked ----------------------------------------------------------

QUARANTINE_CHECKS = quality.checks_for_table(quality.QUARANTINE_TABLE)  # one per reason


def _quality_db(quarantine_rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    """Three deliveries read, one rejected; meta.quality_check as utfall.quality writes it."""
    con = duckdb.connect()
    transform.create_schemas(con)
    con.execute("""insert into meta.delivery (delivery_id, file_hash, path, kommun_kod, status,
                   rows_read) values ('d1', 'h1', '1480/excel/a_1_.xlsx', '1480', 'LOADED', 200),
                   ('d2', 'h2', '1480/excel/b.xlsx', '1480', 'LOADED', 50),
                   ('d3', 'h3', '1402/procapita/c.csv', '1402', 'LOADED', 10),
                   ('d4', 'h4', '1402/procapita/d.csv', '1402', 'REJECTED', null)""")
    for row in quarantine_rows:
        con.execute("insert into meta.quality_check values (?, 'meta.quarantine', ?, ?, ?, "
                    "'WARNING', ?, ?, ?, null)", row)
    return con


def _quarantine_result(con) -> dg.AssetCheckResult:
    [result] = [r for r in checks.quality_results(con)
                if r.asset_key == dg.AssetKey(["meta", "quarantine"])]
    return result


def test_the_quarantine_check_counts_every_reason_on_every_delivery_read():
    assert len(QUARANTINE_CHECKS) == 16
    con = _quality_db([
        ("quarantine_pnr_invalid", "1480", "d1", "invalid", 200, 3, False),
        ("quarantine_date_invalid", "1480", "d1", "dates", 200, 1, False)])
    result = _quarantine_result(con)
    assert (result.passed, result.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert result.description == (
        "2 of 48 checks of meta.quarantine failed (0 ERROR, 2 WARNING; 16 reasons × 3 "
        "deliveries read):\n"
        "- WARNING quarantine_date_invalid (delivery `1480/excel/a_1_.xlsx`): 1 of 200 rows "
        "break it: dates\n"
        "- WARNING quarantine_pnr_invalid (delivery `1480/excel/a_1_.xlsx`): 3 of 200 rows "
        "break it: invalid")
    assert (result.metadata["checks"].value, result.metadata["failed"].value) == (48, 2)
    clean = _quarantine_result(_quality_db([]))
    assert clean.passed and clean.description == (
        "All 48 checks of meta.quarantine passed (16 reasons × 3 deliveries read).")


def test_a_passing_row_for_a_check_already_counted_is_not_counted_twice():
    """Should utfall.quality record the quarantine checks that pass too, the count stays."""
    con = _quality_db([("quarantine_pnr_invalid", "1480", "d1", "invalid", 200, 3, False),
                       ("quarantine_pnr_invalid", "1480", "d2", "invalid", 50, 0, True),
                       ("quarantine_pnr_missing", "1402", "d3", "missing", 10, 0, True)])
    result = _quarantine_result(con)
    assert result.description.startswith("1 of 48 checks of meta.quarantine failed")
    assert result.metadata["checks"].value == 48


# --- settings ------------------------------------------------------------------------------------

def test_settings_come_from_the_environment_over_the_settings_file(tmp_path):
    settings_file = tmp_path / "utfall.env"
    settings_file.write_text("UTFALL_INBOX=/srv/inkorg\nUTFALL_DB=/srv/fil.duckdb\n"
                             "UTFALL_KEY_FILE=/srv/nyckel\n", encoding="utf-8")
    settings = UtfallSettings.from_environment({"UTFALL_DB": "/data/utfall.duckdb"}, settings_file)
    assert (settings.inbox, settings.db, settings.key_file) == (
        "/srv/inkorg", "/data/utfall.duckdb", "/srv/nyckel")
    assert settings.config_dir == str(ROOT / "config" / "kommuner")
    default = UtfallSettings.from_environment({}, tmp_path / "none.env")
    assert default.inbox == str(keys.SAMPLE_INBOX)
    assert default.db == str(ROOT / "build" / "dagster.duckdb")


def test_without_settings_the_sample_and_the_demo_key_are_used_and_said(monkeypatch, tmp_path):
    monkeypatch.delenv(keys.ENV_VAR, raising=False)
    settings = UtfallSettings.from_environment({}, tmp_path / "none.env")
    assert settings.pseudonymiser().label == "DEMO"
    assert "the public DEMO key" in settings.describe()
    assert "This is the bundled sample: set UTFALL_INBOX" in settings.describe()
    job = defs.resolve_job_def("build_all")
    assert "Inbox " in job.description and "pseudonymised with" in job.description


# --- sensor --------------------------------------------------------------------------------------

def _tick(instance, inbox, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"settings": UtfallSettings(inbox=str(inbox))})
    return inbox_sensor(context), context.cursor


def test_sensor_starts_one_build_per_batch_once_the_inbox_is_still(tmp_path):
    inbox = tmp_path / "inbox"
    for kommun in ("1480", "1402"):
        (inbox / kommun / "excel").mkdir(parents=True)
        (inbox / kommun / "excel" / "lista.xlsx").write_bytes(b"first")
    instance = dg.DagsterInstance.ephemeral()
    arriving, cursor = _tick(instance, inbox)
    assert arriving.skip_message == "deliveries arriving: the build starts when the inbox is still"
    first, cursor = _tick(instance, inbox, cursor)
    assert len(first.run_requests) == 1
    assert first.run_requests[0].tags["utfall/changed"] == "1402, 1480"
    [add] = first.dynamic_partitions_requests
    assert (add.partitions_def_name, sorted(add.partition_keys)) == ("kommun", ["1402", "1480"])
    instance.add_dynamic_partitions("kommun", list(add.partition_keys))

    quiet, cursor = _tick(instance, inbox, cursor)
    assert quiet.skip_message == "no new deliveries since the last build"

    (inbox / "1402" / "excel" / "lista-2024-07.xlsx").write_bytes(b"new month")
    still_coming, cursor = _tick(instance, inbox, cursor)
    assert isinstance(still_coming, dg.SkipReason)
    second, _ = _tick(instance, inbox, cursor)
    assert [r.tags["utfall/changed"] for r in second.run_requests] == ["1402"]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert second.dynamic_partitions_requests == []


def test_sensor_starts_a_build_for_a_missing_inbox_so_that_its_message_is_seen(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    _, cursor = _tick(instance, tmp_path / "nowhere")
    result, _ = _tick(instance, tmp_path / "nowhere", cursor)
    assert len(result.run_requests) == 1


# --- freshness -----------------------------------------------------------------------------------

def test_freshness_warns_for_each_municipality_whose_latest_delivery_is_old(tmp_path):
    inbox, today = tmp_path / "inbox", date.today()
    for kommun, age in (("1480", 3), ("1402", 46), ("1415", 120)):
        (inbox / kommun / "excel").mkdir(parents=True)
        for i, extra in enumerate((0, 30)):
            path = inbox / kommun / "excel" / f"lista-{i}.xlsx"
            path.write_bytes(b"x")
            when = (today - timedelta(days=age + extra)).strftime("%s")
            os.utime(path, (int(when) + 43200, int(when) + 43200))
    result = checks.freshness_result(inbox, today)
    assert (result.passed, result.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert result.description == (
        "2 of 3 municipalities have not delivered for more than 45 days:\n"
        f"- 1415 (Stenungsund): latest delivery {today - timedelta(days=120)}, 120 days ago\n"
        f"- 1402 (Partille): latest delivery {today - timedelta(days=46)}, 46 days ago")
    fresh = checks.freshness_result(inbox, today - timedelta(days=100))
    assert fresh.passed and fresh.description == "All 3 municipalities delivered within 45 days."


# --- one build, two ways in ----------------------------------------------------------------------

def _execute(settings: UtfallSettings, instance=None, run_config=None):
    job = defs.resolve_job_def("build_all")
    return job.execute_in_process(instance=instance or dg.DagsterInstance.ephemeral(),
                                  resources={"settings": settings}, run_config=run_config,
                                  raise_on_error=False)


def _failure(result) -> str:
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.event_specific_data.user_failure_data.description


def _cli_error(*args: str) -> str:
    out = CliRunner().invoke(main, ["run", *args])
    assert out.exit_code == 1, out.output
    return out.output.removeprefix("Error: ").strip()


@pytest.fixture(scope="module")
def both_builds(tmp_path_factory):
    """The sample inbox copied, one key file, built once by `utfall run` and once by Dagster."""
    root = tmp_path_factory.mktemp("two_ways")
    inbox = root / "inbox"
    shutil.copytree(SAMPLE_INBOX, inbox)
    key = keys.generate(root / "key")
    cli = CliRunner().invoke(main, ["run", "--inbox", str(inbox), "--db", str(root / "cli.duckdb"),
                                    "--key-file", str(key), "--config-dir", str(CONFIG_DIR)])
    assert cli.exit_code == 0, cli.output
    instance = dg.DagsterInstance.ephemeral()
    settings = UtfallSettings(inbox=str(inbox), db=str(root / "dagster.duckdb"),
                              config_dir=str(CONFIG_DIR), key_file=str(key))
    result = _execute(settings, instance)
    assert result.success
    return root, settings, instance, result


def _rows(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        names = [f"{s}.{t}" for s, t in con.execute(
            "select schema_name, table_name from duckdb_tables() order by all").fetchall()]
        out = {}
        for name in names:
            schema, table = name.split(".")
            # exact, doubles too: the same inbox must give the same figures to the last digit
            columns = [c for (c,) in con.execute(
                           "select column_name from duckdb_columns() where "
                           "schema_name = ? and table_name = ? order by column_index",
                           [schema, table]).fetchall()
                       if c not in VOLATILE]
            out[name] = con.execute(
                f"select {', '.join(columns)} from {name} order by all").fetchall()
        return out


class _Text(HTMLParser):
    """The text a reader sees: no scripts, no styles."""

    def __init__(self):
        super().__init__()
        self.parts, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.hidden -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.parts.append(data.strip())


def _visible(path: Path) -> list[str]:
    """The report's text, its run time (meta.run.finished_at) left out as in the tables."""
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    run_time = re.compile(r"körd \d{4}-\d\d-\d\d \d\d:\d\d")
    return [run_time.sub("körd (tid)", part) for part in parser.parts]


def test_dagster_builds_the_same_database_and_report_as_utfall_run(both_builds):
    root, _, _, _ = both_builds
    cli, dagster = _rows(root / "cli.duckdb"), _rows(root / "dagster.duckdb")
    assert set(cli) == set(dagster)
    assert len(cli["marts.kpi_value"]) > 1000 and len(cli["meta.quality_check"]) > 100
    assert len(cli["meta.run"]) == 1 and len(cli["meta.disclosure_audit"]) == 1
    for table in sorted(cli):
        assert dagster[table] == cli[table], table
    cli_text = _visible(root / "cli-rapport.html")
    assert len(cli_text) > 500
    assert _visible(root / "dagster-rapport.html") == cli_text


def test_the_dagster_database_and_report_are_private(both_builds):
    root, _, _, _ = both_builds
    for name in ("dagster.duckdb", "dagster-rapport.html"):
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o600, name
    assert not list(root.glob(".dagster*.tmp*"))


def test_each_check_says_what_failed_where_and_how_many_rows(both_builds):
    _, _, _, result = both_builds
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e
                   for e in result.get_asset_check_evaluations()}
    assert len(evaluations) == 16
    unlinked = evaluations[("core/progression_assessment", "quality")]
    assert (unlinked.passed, unlinked.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert unlinked.description == (
        "1 of 39 checks of core.progression_assessment failed (0 ERROR, 1 WARNING):\n"
        "- WARNING progression_assessment_unlinked_participants (1402 (Partille)): 3 of 128 rows "
        "break it: every assessed participant is linked to a person_key (unexpected = distinct "
        "unlinked participant_ref)")
    person = evaluations[("core/person", "quality")]
    assert (person.passed, person.description) == (True, "All 6 checks of core.person passed.")
    quarantine = evaluations[("meta/quarantine", "quality")]
    assert quarantine.description.startswith(
        "17 of 928 checks of meta.quarantine failed (0 ERROR, 17 WARNING; 16 reasons × 58 "
        "deliveries read):\n- WARNING quarantine_date_invalid (delivery "
        "`1384/excel/Deltagare AME 2021-2024.xlsx`): 2 of 249 rows break it: ")
    for evaluation in evaluations.values():
        assert _rendered(evaluation.description)
    assert evaluations[("marts/kpi_published", "disclosure_audit")].passed
    assert evaluations[("meta/delivery", "delivery_freshness")].passed


def test_every_table_shows_its_row_count_and_the_deliveries_are_partitions(both_builds):
    root, _, instance, result = both_builds
    counts = {m.asset_key.to_user_string(): m.metadata["dagster/row_count"].value
              for m in result.get_asset_materialization_events()
              for m in [m.event_specific_data.materialization]
              if "dagster/row_count" in m.metadata}
    with duckdb.connect(str(root / "dagster.duckdb"), read_only=True) as con:
        for name in ("core.insats_episode", "marts.kpi_published", "meta.delivery"):
            assert counts[name.replace(".", "/")] == con.execute(
                f"select count(*) from {name}").fetchone()[0]
    assert len(counts) == len(EXPECTED_KEYS) - 2
    assert instance.get_dynamic_partitions(kommun_partitions.name) == KOMMUNER
    deliveries = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["inbox", "deliveries"])), limit=100)
    assert sorted(r.partition_key for r in deliveries.records) == KOMMUNER


def test_a_second_build_of_an_unchanged_inbox_reads_nothing_again(both_builds):
    root, settings, instance, _ = both_builds
    before = _rows(root / "dagster.duckdb")
    assert _execute(settings, instance).success
    after = _rows(root / "dagster.duckdb")
    # nothing changed: the build, as utfall run, says so and writes nothing (not even a run row)
    assert after == before
    deliveries = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["inbox", "deliveries"])), limit=100)
    assert len(deliveries.records) == len(KOMMUNER)  # nothing new was delivered


def test_a_build_waits_for_no_one_it_is_told_not_to_and_then_changes_nothing(both_builds):
    root, settings, _, _ = both_builds
    db = Path(settings.db)
    before = db.read_bytes()
    with writer_lock(db):
        result = _execute(settings, run_config={"ops": {"build": {"config": {"wait_seconds": 0}}}})
    assert not result.success
    assert _failure(result).startswith(f"another run is writing {db} since ")
    assert db.read_bytes() == before


def test_a_misconfiguration_fails_the_first_run_with_the_clis_message(tmp_path, monkeypatch):
    monkeypatch.delenv(keys.ENV_VAR, raising=False)
    missing = tmp_path / "no-inbox"
    db = tmp_path / "x.duckdb"
    key = keys.generate(tmp_path / "key")
    result = _execute(UtfallSettings(inbox=str(missing), db=str(db), key_file=str(key)))
    assert _failure(result) == _cli_error("--inbox", str(missing), "--db", str(db),
                                          "--key-file", str(key))
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLE_INBOX / "1402", inbox / "1402")
    no_key = _execute(UtfallSettings(inbox=str(inbox), db=str(db)))
    assert _failure(no_key) == keys.HOW_TO == _cli_error("--inbox", str(inbox), "--db", str(db))
    assert not db.exists()
