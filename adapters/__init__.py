"""One adapter module per source system. Each exposes `SYSTEM` (the inbox folder name) and
`read(source, config, pseudo, today) -> AdapterResult` (see adapters.base). Adding a system is
adding its module name here."""

from __future__ import annotations

import importlib
from types import ModuleType

from utfall import one_name

one_name(__name__)

SYSTEMS = ("procapita", "skapa", "excel")


def adapter_for(system: str) -> ModuleType | None:
    if system not in SYSTEMS:
        return None
    return importlib.import_module(f"utfall.adapters.{system}")


def read(system: str, source, config, pseudo, today):
    """The adapter layer's one door: the system's adapter, then dates that cannot be true yet
    (adapters.future: quarantined, and result.latest_date), then the personnummer mask over
    every text it returns or rejects with (adapters.redact)."""
    from utfall.adapters import future, redact
    from utfall.adapters.base import FileRejected

    try:
        result = adapter_for(system).read(source, config, pseudo, today)
        return redact.result(future.apply(result, today, source.rel_path), pseudo)
    except FileRejected as exc:
        raise FileRejected(redact.shown(str(exc))) from None
