from pathlib import Path

from utfall.dictionary import _comments, _from_glossary, column_meanings, generate

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


def test_every_column_has_a_meaning():
    empty = [f"{table}.{column}" for table, columns in column_meanings().items()
             for column, meaning in columns.items() if not meaning.strip()]
    assert empty == [], ("give these columns a comment in schemas/ddl/*.sql (beside the column, "
                         "or a '-- column name: meaning' glossary line): " + ", ".join(empty))


def test_meanings_come_from_the_comment_the_glossary_and_its_horizons():
    ddl = """-- column delivery_id: the delivery the row came from
-- column status_{h}m: status {h} months after exit
-- One row per thing.
create table if not exists x.t (
    delivery_id varchar not null, amount decimal(14, 2) not null,  -- in kronor
    status_6m varchar, status_local varchar, status varchar   -- status null = unmapped
);
alter table x.t add column if not exists load_key varchar;  -- sha256 of the file
"""
    glossary = {}
    comments = _comments(ddl, glossary)
    assert comments == {("x", "t"): ("One row per thing.", {
        "amount": "in kronor", "status": "status null = unmapped", "load_key": "sha256 of the file"})}
    assert _from_glossary("delivery_id", glossary) == "the delivery the row came from"
    assert _from_glossary("status_12m", glossary) == "status 12 months after exit"
    assert _from_glossary("status_local", glossary) == ""
