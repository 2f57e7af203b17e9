"""The researchers' notebooks run against the sample database, and stay paired with their .py."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.pipeline
COMPARED = {"01_spells_and_kpis": "Samma som marts.kpi_value i alla",
            "02_time_on_fs": "Samma median som det publicerade FS_MEDIAN_MAN i alla"}
NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_sample_database(script, sample_run, monkeypatch):
    summary, _ = sample_run
    monkeypatch.setenv("UTFALL_DB", str(summary.db_path))
    notebook = jupytext.read(script)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(script.parent)}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert [o for o in outputs if o.get("output_type") == "error"] == []
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for o in outputs)
    # the comparisons with the KPIs ran (each notebook asserts equality before printing this)
    assert COMPARED[script.stem] in text
    assert "np.int" not in text and "np.float" not in text  # numbers formatted for people


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_ipynb_is_paired_with_its_script(script):
    paired = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    source = jupytext.read(script)
    assert [c.source for c in paired.cells] == [c.source for c in source.cells]
