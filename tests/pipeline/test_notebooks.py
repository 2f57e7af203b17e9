"""The researchers' notebooks run against the sample database, and stay paired with their .py."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.pipeline
NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_sample_database(script, sample_run, monkeypatch):
    summary, _ = sample_run
    monkeypatch.setenv("UTFALL_DB", str(summary.db_path))
    notebook = jupytext.read(script)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(script.parent)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_ipynb_is_paired_with_its_script(script):
    paired = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    source = jupytext.read(script)
    assert [c.source for c in paired.cells] == [c.source for c in source.cells]
