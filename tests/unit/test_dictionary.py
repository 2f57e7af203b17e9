from pathlib import Path

from utfall.dictionary import generate

ROOT = Path(__file__).resolve().parents[2]


def test_committed_data_dictionary_matches_the_schema():
    committed = (ROOT / "docs" / "data_dictionary.md").read_text(encoding="utf-8")
    assert committed == generate(), "run `utfall dictionary` after changing schemas/ddl"


def test_every_contract_table_is_described():
    text = generate()
    for table in ("core.person", "core.insats_episode", "core.fs_month", "core.fs_coverage",
                  "core.status_observation", "core.progression_assessment",
                  "marts.participation_spell", "marts.kpi_value", "marts.kpi_published", "marts.kpi",
                  "meta.delivery", "meta.quarantine"):
        assert f"## {table}\n" in text
