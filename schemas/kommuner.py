"""SCB's list of Sweden's 290 municipalities (kommunkod -> name), shipped as data.

`kommuner.csv` beside this module holds SCB's kommunkoder as valid since 2007 (län, two digits,
then two digits); it decides which inbox folders and configuration files name a municipality, and
gives the report its names.
"""

from __future__ import annotations

import csv
from pathlib import Path

CSV_PATH = Path(__file__).with_name("kommuner.csv")


def _load(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["kommun_kod"]: row["namn"] for row in csv.DictReader(fh, delimiter=";")}


KOMMUNER: dict[str, str] = _load(CSV_PATH)


def name(code: str) -> str | None:
    """SCB's name for a municipality code, or None when the code is not one of the 290."""
    return KOMMUNER.get(code)
