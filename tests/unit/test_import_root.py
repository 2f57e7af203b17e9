"""One import root (issue 25): adapters/, schemas/, marts/ and pipelines/ are utfall.adapters,
utfall.schemas, utfall.marts and utfall.pipelines, and nothing imports them under a second name."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import utfall

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("adapters", "schemas", "marts", "pipelines", "utfall", "bench", "synth", "tests",
           "notebooks")


def bare_imports(path: Path) -> list[str]:
    """`import adapters...` or `from schemas... import` in one file, with the line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0
                 else [])
        found += [f"{path}:{node.lineno}: {name}" for name in names
                  if name and name.split(".")[0] in utfall.PACKAGES]
    return found


def test_no_file_imports_a_package_under_its_bare_name():
    files = [p for top in SOURCES for p in sorted((ROOT / top).rglob("*.py"))]
    assert len(files) > 100
    assert [hit for p in files for hit in bare_imports(p)] == []


def test_bare_imports_are_found(tmp_path):
    """The scan above can fail: it sees each form of a bare import."""
    sample = tmp_path / "sample.py"
    sample.write_text("import adapters.base\nfrom schemas import codes\nfrom utfall.marts import "
                      "catalogue\nimport pipelines\n", encoding="utf-8")
    assert [h.split(": ")[1] for h in bare_imports(sample)] == [
        "adapters.base", "schemas", "pipelines"]


@pytest.mark.parametrize("package", utfall.PACKAGES)
def test_a_bare_name_is_refused_from_the_repository_root(package):
    """Run from a checkout, the folder is importable by its bare name; it refuses, so that no
    module is ever loaded twice under two names."""
    done = subprocess.run([sys.executable, "-c", f"import {package}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert (f"ImportError: import utfall.{package}, not {package}: the folder {package}/ is "
            f"installed as utfall.{package}") in done.stderr


def test_the_command_and_the_code_location_load_each_module_once():
    code = ("import sys, utfall.cli, utfall.pipelines.definitions, utfall.marts.audit; "
            "print('\\n'.join(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=True)
    modules = done.stdout.split()
    assert {"utfall.adapters.config", "utfall.schemas.codes", "utfall.marts.catalogue",
            "utfall.pipelines.definitions"} <= set(modules)
    assert [m for m in modules if m.split(".")[0] in utfall.PACKAGES] == []


def test_sql_and_data_are_found_through_the_packages():
    assert (utfall.folder("schemas") / "ddl" / "30_core.sql").is_file()
    assert (utfall.folder("marts") / "sql" / "40_kpi_published.sql").is_file()
    assert (utfall.folder("adapters") / "defaults.yaml").is_file()
