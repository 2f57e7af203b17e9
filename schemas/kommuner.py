"""SCB's list of Sweden's 290 municipalities (kommunkod -> name), shipped as data.

`kommuner.csv` beside this module holds SCB's kommunkoder as valid since 2007 (län, two digits,
then two digits); it decides which inbox folders and configuration files name a municipality, and
gives the report its names.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path

CSV_PATH = Path(__file__).with_name("kommuner.csv")


def _load(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["kommun_kod"]: row["namn"] for row in csv.DictReader(fh, delimiter=";")}


KOMMUNER: dict[str, str] = _load(CSV_PATH)


def name(code: str) -> str | None:
    """SCB's name for a municipality code, or None when the code is not one of the 290."""
    return KOMMUNER.get(code)


def label(code: str) -> str:
    """`1402 (Partille)`: how a code is shown to an analyst."""
    return f"{code} ({KOMMUNER[code]})"


def guesses(text: str, preferred: Iterable[str] = ()) -> list[str]:
    """The municipality codes someone who wrote `text` (not a code) most likely meant: a code or
    a name inside it (`1402 Partille`, `partille`), else a `preferred` code (configured, present)
    one keystroke away, else up to three of SCB's codes one keystroke away; often none."""
    by_name = [c for c, n in KOMMUNER.items() if n.casefold() == text.strip().casefold()]
    inside = [c for c in re.findall(r"(?<!\d)\d{4}(?!\d)", text) if c in KOMMUNER]
    if by_name or inside:
        return sorted(set(by_name + inside))
    if not re.fullmatch(r"\d{4}", text):
        return []
    near_preferred = _one_keystroke(text, set(preferred) & KOMMUNER.keys())
    return near_preferred[:1] if near_preferred else _one_keystroke(text, KOMMUNER)[:3]


def _one_keystroke(code: str, candidates: Iterable[str]) -> list[str]:
    """Codes one changed digit or one swap of neighbouring digits away: swaps first (the same
    digits typed in the wrong order), then the closest numbers."""
    swaps = {code[:i] + code[i + 1] + code[i] + code[i + 2:] for i in range(3)}
    near = [c for c in candidates if c in swaps or sum(a != b for a, b in zip(c, code)) == 1]
    return sorted(near, key=lambda c: (c not in swaps, abs(int(c) - int(code)), c))
