"""Dagster: the definitions load, asset keys follow the layers, and the inbox sensor asks for
only the municipality that delivered."""

from __future__ import annotations

import dagster as dg
import pytest

from pipelines.definitions import UtfallSettings, defs, inbox_sensor

pytestmark = pytest.mark.pipeline

EXPECTED_KEYS = {
    "staging/procapita_fs_line", "staging/procapita_household_member", "staging/procapita_insats",
    "staging/excel_participant", "staging/excel_status", "staging/skapa_assessment",
    "meta/delivery", "meta/quarantine", "meta/unmapped_value",
    "core/person", "core/insats_episode", "core/fs_month", "core/fs_coverage",
    "core/status_observation", "core/progression_assessment",
    "marts/participation_spell", "marts/kpi", "marts/kpi_value", "marts/kpi_published",
    "report/comparison_html",
}


def test_asset_keys_are_schema_and_table_and_groups_are_layers():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == EXPECTED_KEYS  # a rename must be deliberate: change this list with it
    for key in graph.get_all_asset_keys():
        assert graph.get(key).group_name == key.path[0]


def test_the_report_depends_on_the_published_table_not_the_exact_one():
    graph = defs.resolve_asset_graph()
    deps = graph.get(dg.AssetKey(["report", "comparison_html"])).parent_keys
    assert {k.to_user_string() for k in deps} == {"marts/kpi_published", "marts/kpi"}


def _evaluate(instance, inbox, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"settings": UtfallSettings(inbox=str(inbox))})
    result = inbox_sensor(context)
    return result, context.cursor


def test_sensor_requests_only_the_municipality_with_a_new_delivery(tmp_path):
    inbox = tmp_path / "inbox"
    for kommun in ("1480", "1402"):
        (inbox / kommun / "excel").mkdir(parents=True)
        (inbox / kommun / "excel" / "lista.xlsx").write_bytes(b"first")
    instance = dg.DagsterInstance.ephemeral()
    first, cursor = _evaluate(instance, inbox)
    assert sorted(r.partition_key for r in first.run_requests) == ["1402", "1480"]
    for request in first.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))

    quiet, cursor = _evaluate(instance, inbox, cursor)
    assert isinstance(quiet, dg.SkipReason)

    (inbox / "1402" / "excel" / "lista-2024-07.xlsx").write_bytes(b"new month")
    second, _ = _evaluate(instance, inbox, cursor)
    assert [r.partition_key for r in second.run_requests] == ["1402"]
    assert second.dynamic_partitions_requests == []


def test_dagster_builds_the_same_kpis_as_utfall_run(sample_run, tmp_path):
    from dagster_duckdb import DuckDBResource

    from pipelines.definitions import core_tables, kommun_partitions, marts_tables, staging_tables
    from tests.pipeline.conftest import CONFIG_DIR, SAMPLE_INBOX

    summary, _ = sample_run
    instance = dg.DagsterInstance.ephemeral()
    kommuner = sorted(p.name for p in SAMPLE_INBOX.iterdir() if p.is_dir())
    instance.add_dynamic_partitions(kommun_partitions.name, kommuner)
    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "dagster.duckdb")),
                 "settings": UtfallSettings(inbox=str(SAMPLE_INBOX), config_dir=str(CONFIG_DIR))}
    for kommun in kommuner:
        result = dg.materialize([staging_tables], partition_key=kommun, instance=instance,
                                resources=resources)
        assert result.success
    run_config = {"ops": {"marts_tables": {"config": {"as_of": str(summary.as_of)}}}}
    result = dg.materialize([core_tables, marts_tables], instance=instance, resources=resources,
                            run_config=run_config, selection=None)
    assert result.success

    import duckdb

    def kpis(path):
        with duckdb.connect(str(path), read_only=True) as con:
            return [con.execute(f"select * from marts.{t} order by all").fetchall()
                    for t in ("kpi_value", "kpi_published")]

    assert kpis(tmp_path / "dagster.duckdb") == kpis(summary.db_path)
