"""The researcher's desk: the method document the repository carries (docs/method.md) and what
points to it, labelled code tables, the contract's meanings as DuckDB comments, and where
`utfall dictionary` writes."""

from __future__ import annotations

import os
import re
import unicodedata
from datetime import date
from math import sqrt
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from scipy.stats import norm

from utfall import dictionary, transform
from utfall.cli import main
from utfall.marts import catalogue
from utfall.schemas import code_labels, codes

ROOT = Path(__file__).resolve().parents[2]
METHOD = ROOT / "docs" / "method.md"
# Folders that are not the project's own text: environments, builds, caches, the tests (whose
# fixtures may cite where test data was copied from).
SKIP_DIRS = {".git", ".venv", "build", "tests", "__pycache__", ".pytest_cache", ".ruff_cache",
             ".dagster_home", "test-artifacts", ".ipynb_checkpoints", "node_modules", "vendor"}
TEXT_SUFFIXES = {".py", ".md", ".sql", ".html", ".yaml", ".yml", ".toml", ".txt", ".ipynb",
                 ".cfg", ".ini", ".csv", ".css"}
# The files this desk owns: they must not cite the old specification's file names either.
OWN = [ROOT / "README.md", METHOD, ROOT / "docs" / "data_dictionary.md", ROOT / "schemas" / "codes.py",
       ROOT / "schemas" / "code_labels.py", ROOT / "utfall" / "dictionary.py",
       ROOT / "utfall" / "report" / "templates" / "method.html", *sorted((ROOT / "schemas" / "ddl").glob("*.sql"))]


@pytest.fixture(scope="module")
def method() -> str:
    return METHOD.read_text(encoding="utf-8")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def _headings(text: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^#{1,4} (.+)$", text, re.MULTILINE)]


# ---- 1. the method document ------------------------------------------------------------------

def test_the_method_document_names_every_kpi(method):
    missing = [k.kpi_id for k in catalogue.CATALOGUE if k.kpi_id not in _kpi_ids_named(method)]
    assert missing == []


def _kpi_ids_named(text: str) -> set[str]:
    """kpi_ids as written, with {h} expanded over the horizons the text gives beside it."""
    named = set(re.findall(r"`([A-Z_0-9]+)`", text))
    for stem, tail, horizons in re.findall(r"`([A-Z_]+)_\{h\}M(\w*)`(?:, h = ([\d, ]+))?", text):
        for h in (horizons or "3, 6, 12").split(","):
            named.add(f"{stem}_{h.strip()}M{tail}")
    return named


def test_the_method_document_names_every_breakdown_and_value(method):
    breakdowns = method[method.index("### Breakdowns"):method.index("### Ages")]
    for dimension, (values, _) in codes.BREAKDOWNS.items():
        assert f"`{dimension}`" in breakdowns
        if dimension != "INSATS":  # the nine insats_typ codes, listed under Code lists
            assert all(f"`{v}`" in breakdowns for v in values), dimension
    assert all(f"`{code}`" in method for code in codes.INSATS_TYP)


@pytest.mark.parametrize("section", [
    "Participation spells", "as_of", "Status at a horizon", "Status after start",
    "Returns to the AME", "Försörjningsstöd rules", "KPIs", "Breakdowns", "Ages",
    "Wilson intervals", "Kaplan–Meier median", "Expected values",
    "The exact table and the published table", "Disclosure control", "Record keys", "Cell keys",
    "The noise table", "Perturbed counts", "The noise-aware interval", "The 0 %/100 % rule",
    "The grid", "Pseudonymisation", "Quarantine and reconciliation", "Worked example",
    "Code lists", "Sources and the common tables"])
def test_the_method_document_has_each_section(method, section):
    assert section in _headings(method)


def test_rule_1_orders_by_start_end_ongoing_last_type_then_episode_id(method):
    rule = method[method.index("**Rule 1"):method.index("**Rule 2")]
    keys = [rule.index(word) for word in ("`start_date`", "`end_date`", "ongoing", "`insats_typ`",
                                          "`episode_id`")]
    assert keys == sorted(keys)


def test_the_disclosure_rules_of_the_revision_are_stated(method):
    control = method[method.index("## Disclosure control"):method.index("## The per-spell table")]
    control = re.sub(r"\s*\n\s*", " ", control).replace("\\|", "|")  # wrapped; pipes in tables
    for phrase in ("g = 2 * min_cell + 8", "half up to one decimal", "2.25 becomes 2.3",
                   "No `FS_MAN_FORE_12` × `LANGVARIGT_FS_FORE` rows", "`p(D) < 15`",
                   "σ² = 4.083", "q     = (x + 2) / (m + 4)", "The 0 %/100 % rule",
                   "no secondary suppression", "person_key|kommun_kod|start_date",
                   "`person_key|Y`", "`person_key|m`"):
        assert phrase in control, phrase


def test_the_noise_table_is_the_normal_it_says(method):
    """T(k) = round(2^32 * Phi((k + 0.5) / 2)), as printed."""
    table = method[method.index("### The noise table"):method.index("### Perturbed counts")]
    printed = [int(t) for t in re.findall(r"\| (\d{6,10})(?= )", table)]
    assert printed == [round(2**32 * norm.cdf((k + 0.5) / 2)) for k in range(-8, 8)]


def _noise_aware(x: int, m: int) -> tuple[float, float]:
    z = 1.959964
    q = (x + 2) / (m + 4)
    n = m / (1 + 4.083 * (1 + q * q) / (m * q * (1 - q)))
    p = x / m
    centre, half = p + z * z / (2 * n), z * sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - half) / (1 + z * z / n)), min(1.0, (centre + half) / (1 + z * z / n))


def test_the_check_values_of_the_noise_aware_interval_follow_from_its_formula(method):
    section = method[method.index("### The noise-aware interval"):method.index("### The 0 %")]
    rows = re.findall(r"^\| (\d+) \| (\d+) \| [\d.]+ \| ([\d.]+) – ([\d.]+) \|", section, re.MULTILINE)
    assert len(rows) == 3
    for x, m, low, high in rows:
        got = _noise_aware(int(x), int(m))
        assert (round(100 * got[0], 2), round(100 * got[1], 2)) == (float(low), float(high))


def test_internal_links_of_the_method_document_resolve(method):
    anchors = {_slug(h) for h in _headings(method)}
    links = re.findall(r"\]\(#([^)]+)\)", method)
    assert links and [link for link in links if link not in anchors] == []


# ---- 2. everything points to the document, nothing to ../shared ---------------------------------

def _project_text_files():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")
                   and not d.startswith("tmp")]
        for name in files:
            path = Path(folder) / name
            if path.suffix in TEXT_SUFFIXES or name in ("Makefile", ".gitignore"):
                yield path


def test_no_file_outside_the_tests_refers_to_the_shared_folder():
    """A clone has no ../shared: the project carries its own description (docs/method.md)."""
    citing = [str(p.relative_to(ROOT)) for p in _project_text_files()
              if "../shared" in p.read_text(encoding="utf-8", errors="replace")]
    assert citing == []


def test_the_desks_files_cite_the_method_document_not_the_old_specification():
    old = re.compile(r"spec/|\b(metrics|schema|privacy|sources)\.md\b")
    citing = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in OWN
              for m in [old.search(p.read_text(encoding="utf-8"))] if m]
    assert citing == []


def test_sections_cited_as_docs_method_md_exist(method):
    """`docs/method.md, "Section"` in a comment, and docs/method.md#anchor in a link, name a
    heading that exists."""
    headings = set(_headings(method))
    cited, linked = set(), set()
    for path in OWN:
        for line in path.read_text(encoding="utf-8").replace("\\", "").splitlines():
            if "docs/method.md" in line:
                tail = line[line.index("docs/method.md"):].split("](")[0]
                cited |= set(re.findall(r'"([^"]+)"', tail))
                linked |= set(re.findall(r"docs/method\.md#([^)\s]+)", line))
    assert cited and sorted(cited - headings) == []
    assert linked and sorted(linked - {_slug(h) for h in headings}) == []


def test_readme_dictionary_and_report_point_to_the_method_document():
    assert "docs/method.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/method.md" in dictionary.generate().splitlines()[2]
    report = (ROOT / "utfall" / "report" / "templates" / "method.html").read_text(encoding="utf-8")
    sentence = next(s for s in report.split("<p>") if "docs/method.md" in s)
    assert "metoddokumentet" in sentence  # Swedish, and names the document


# ---- 3. labels in the code tables ---------------------------------------------------------------

@pytest.fixture(scope="module")
def schema_db():
    con = duckdb.connect()
    transform.create_schemas(con)
    yield con
    con.close()


@pytest.mark.parametrize("name", list(codes.CODE_LISTS))
def test_every_code_has_a_swedish_and_an_english_label(schema_db, name):
    rows = schema_db.execute(
        f"select code, label_sv, label_en from codes.{name} order by sort_order").fetchall()
    assert [r[0] for r in rows] == list(codes.CODE_LISTS[name])
    assert all(sv.strip() and en.strip() for _, sv, en in rows)
    assert len({sv for _, sv, _ in rows}) == len(rows), "two codes with the same label"


def test_every_breakdown_value_has_labels(schema_db):
    rows = schema_db.execute("select dimension, dimension_value, label_sv, label_en "
                             "from codes.breakdown order by dimension, sort_order").fetchall()
    expected = {(d, v) for d, (values, _) in codes.BREAKDOWNS.items() for v in values}
    assert {(d, v) for d, v, _, _ in rows} == expected
    assert all(sv.strip() and en.strip() for _, _, sv, en in rows)


def test_labels_cover_no_code_that_does_not_exist():
    for name, labels in code_labels.CODE_LISTS.items():
        assert set(labels) == set(codes.CODE_LISTS[name]), name


def test_a_database_with_unlabelled_code_tables_gets_the_labels():
    """A database built before the labels: its code tables take the new shape on the next run."""
    con = duckdb.connect()
    con.execute("create schema codes; create table codes.status (code varchar primary key, "
                "sort_order integer); insert into codes.status values ('ARBETE', 1)")
    transform.create_schemas(con)
    assert con.execute("select label_sv from codes.status where code = 'ARBETE'").fetchone() == (
        code_labels.STATUS["ARBETE"][0],)


# ---- 4. DuckDB comments from the contract -------------------------------------------------------

@pytest.fixture(scope="module")
def built():
    from tests.marts.coredb import worked_example

    return worked_example().build(as_of=date(2024, 6, 30)).con


@pytest.mark.parametrize("table", ["marts.kpi_published", "marts.participation_spell", "core.person"])
def test_a_built_database_comments_every_column(built, table):
    schema, name = table.split(".")
    rows = built.execute("select column_name, comment from duckdb_columns() "
                         "where schema_name = ? and table_name = ?", [schema, name]).fetchall()
    assert rows and [c for c, comment in rows if not (comment or "").strip()] == []
    meanings = dictionary.column_meanings()[table]
    assert dict(rows) == meanings  # the dictionary's texts, the same source


def test_every_table_of_the_contract_has_a_comment(built):
    rows = built.execute("select schema_name, table_name, comment from duckdb_tables() where "
                         "schema_name in ('core', 'marts', 'staging', 'meta', 'codes')").fetchall()
    assert len(rows) > 20
    assert [f"{s}.{t}" for s, t, c in rows if not (c or "").strip()] == []


def test_comments_survive_a_rebuild_of_a_layer(schema_db):
    transform.recreate_tables(schema_db, "core", transform.CORE_DDL)
    (comment,) = schema_db.execute(
        "select comment from duckdb_columns() where schema_name = 'core' and table_name = 'person' "
        "and column_name = 'sex'").fetchone()
    assert comment == "K / M, from the personnummer"


def test_a_comment_with_a_quote_is_escaped():
    con = duckdb.connect()
    con.execute("create table t (a integer)")
    con.execute("comment on column t.a is " + dictionary._quoted("the unit's own"))
    assert con.execute("select comment from duckdb_columns() where table_name = 't'").fetchone() == (
        "the unit's own",)


# ---- 5. where `utfall dictionary` writes ----------------------------------------------------------

def test_inside_the_repository_the_dictionary_goes_to_its_docs_folder():
    target = ROOT / "docs" / "data_dictionary.md"
    assert dictionary.repository_copy(ROOT) == target
    assert dictionary.repository_copy(ROOT / "notebooks") == target


def test_elsewhere_the_dictionary_is_printed_and_no_docs_folder_appears(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert dictionary.repository_copy() is None
    result = CliRunner().invoke(main, ["dictionary"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# Data dictionary\n")
    assert list(tmp_path.iterdir()) == []


def test_out_writes_the_named_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["dictionary", "--out", "dd.md"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dd.md").read_text(encoding="utf-8") == dictionary.generate()
    assert list(tmp_path.iterdir()) == [tmp_path / "dd.md"]


def test_readme_says_where_the_dictionary_goes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "prints the dictionary to standard output" in readme


def test_notebook_checkpoints_are_ignored():
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "notebooks/.ipynb_checkpoints/" in ignored and ".ipynb_checkpoints/" in ignored


@pytest.mark.parametrize("name", ["insats_typ", "status", "end_reason", "hinder", "referred_from",
                                  "distance"])
def test_the_method_documents_code_tables_show_the_labels_of_the_database(method, name):
    missing = [code for code, (sv, _) in code_labels.CODE_LISTS[name].items()
               if f"`{code}` | {sv} |" not in method]
    assert missing == []
