"""The database is a function of its inputs: after any sequence of runs it equals a fresh build
of the current inbox, configuration and key (issue 14). Random histories of an inbox — files
added, corrected, put back, moved from the wrong municipality, deleted, and a configuration
written afterwards — are run one step at a time on one database and compared, table by table,
with a fresh build of where the history ended."""

from __future__ import annotations

import random
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.pipeline.conftest import SAMPLE_INBOX
from utfall import keys
from utfall.run import run

pytestmark = pytest.mark.pipeline

TODAY = date(2024, 7, 5)
# Two municipalities of the sample: Procapita text files, an Excel list, SKAPA, an .ods list.
POOL = [
    "1384/procapita/ekb_2021.txt", "1384/procapita/ekb_2022.txt", "1384/procapita/ekb_2023.txt",
    "1384/procapita/ekb_2024.txt", "1384/excel/Deltagare AME 2021-2024.xlsx",
    "1384/skapa/SKAPA export 2021-2024.xlsx", "1415/excel/Deltagare Stenungsund.ods",
    "1415/procapita/hushallsmedlemmar.csv", "1415/procapita/utbetalningar_2021-2022.csv",
    "1415/procapita/utbetalningar_2023-2024.csv",
]
TEXT = [p for p in POOL if p.endswith((".txt", ".csv")) and "hushall" not in p]
CONFIG_1384 = """kommun_kod: "1384"
namn: Kungsbacka
values:
  insats_typ:
    exact:
      "Steg 1 Motivation": SOCIAL_REHAB
      "Steg 2 Arbetsträning": ARBETSTRANING
  status:
    exact:
      "Visstidsanställd": ARBETE
      "Studerar": STUDIER
excel:
  sheets: ["20??"]
  header_aliases:
    slutdatum: ["Utskriven"]
    avslutsorsak: ["Orsak avslut"]
"""


def tables(db: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as con:
        names = [f"{s}.{t}" for s, t in con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where schema_name in ('core', 'marts', 'staging') order by 1, 2").fetchall()]
        return {name: con.execute(f"select * from {name} order by all").fetchall()
                for name in names}


def build(inbox: Path, db: Path, config_dir: Path):
    return run(inbox, db, keys.demo(), config_dir, write_report=False, today=TODAY,
               audit=False, workers=1, allow_withdraw=True)


class History:
    """An inbox and a configuration folder that change step by step."""

    def __init__(self, root: Path, rng: random.Random):
        self.inbox, self.config, self.rng = root / "inbox", root / "config", rng
        self.inbox.mkdir()
        self.config.mkdir()
        self.steps: list[str] = []

    def present(self) -> list[str]:
        return sorted(p.relative_to(self.inbox).as_posix() for p in self.inbox.rglob("*")
                      if p.is_file())

    def put(self, rel: str, source: Path | bytes) -> None:
        target = self.inbox / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, bytes):
            target.write_bytes(source)
        else:
            shutil.copyfile(source, target)

    def add(self) -> None:
        missing = [p for p in POOL if p not in self.present()]
        if missing:
            rel = self.rng.choice(missing)
            self.put(rel, SAMPLE_INBOX / rel)
            self.steps.append(f"add {rel}")

    def correct(self) -> None:
        """A corrected re-delivery: the same file with its last data line gone."""
        candidates = [p for p in TEXT if p in self.present()]
        if candidates:
            rel = self.rng.choice(candidates)
            lines = (SAMPLE_INBOX / rel).read_bytes().splitlines(keepends=True)
            self.put(rel, b"".join(lines[:-1]))
            self.steps.append(f"correct {rel}")

    def revert(self) -> None:
        candidates = [p for p in TEXT if p in self.present()]
        if candidates:
            rel = self.rng.choice(candidates)
            self.put(rel, SAMPLE_INBOX / rel)
            self.steps.append(f"revert {rel}")

    def misplace_then_move(self) -> list[str]:
        """A file delivered to the wrong municipality's folder; the next step moves it."""
        rel = self.rng.choice([p for p in POOL if p.startswith("1384/procapita/")])
        wrong = rel.replace("1384/", "1415/", 1)
        self.put(wrong, SAMPLE_INBOX / rel)
        self.steps.append(f"misplace {rel} as {wrong}")
        return [wrong, rel]

    def move(self, wrong: str, right: str) -> None:
        (self.inbox / right).parent.mkdir(parents=True, exist_ok=True)
        (self.inbox / wrong).replace(self.inbox / right)
        self.steps.append(f"move {wrong} -> {right}")

    def delete(self) -> None:
        present = self.present()
        if len(present) > 2:
            rel = self.rng.choice(present)
            (self.inbox / rel).unlink()
            self.steps.append(f"delete {rel}")

    def reconfigure(self) -> None:
        path = self.config / "1384.yaml"
        if path.exists():
            path.unlink()
            self.steps.append("remove 1384.yaml")
        else:
            path.write_text(CONFIG_1384, encoding="utf-8")
            self.steps.append("write 1384.yaml")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_history_equals_a_fresh_build(tmp_path, seed):
    rng = random.Random(seed)
    history = History(tmp_path, rng)
    db = tmp_path / "incremental.duckdb"
    for _ in range(3):
        history.add()
    build(history.inbox, db, history.config)
    for _ in range(4):
        step = rng.choice(["add", "correct", "revert", "move", "delete", "reconfigure"])
        if step == "move":
            wrong, right = history.misplace_then_move()
            build(history.inbox, db, history.config)
            if (history.inbox / wrong).exists():
                history.move(wrong, right)
        else:
            getattr(history, step)()
        build(history.inbox, db, history.config)
    fresh = tmp_path / "fresh.duckdb"
    build(history.inbox, fresh, history.config)
    got, want = tables(db), tables(fresh)
    assert got.keys() == want.keys()
    differing = [name for name in want if got[name] != want[name]]
    assert not differing, f"steps {history.steps}: tables differ from a fresh build: {differing}"
