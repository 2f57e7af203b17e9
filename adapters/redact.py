"""The last step of every adapter: no personnummer leaves it, not even one typed by hand into a
free-text column (an insats name, an avslutsorsak, a Deltagarnr). Local text, unmapped values,
notes and messages are searched for anything shaped like a personnummer, which is masked."""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd

from adapters.base import AdapterResult

# 10 or 12 digits, optionally with '-', '+' or a space before the last four
PNR_LIKE = re.compile(r"(?<!\d)(?:\d{2})?\d{6}[-+ ]?\d{4}(?!\d)")
MASK = "[personnummer]"
TEXT_COLUMNS_SUFFIX = "_local"


def text(value: str) -> str:
    return PNR_LIKE.sub(MASK, value)


def result(res: AdapterResult) -> AdapterResult:
    for name, frame in res.tables.items():
        res.tables[name] = _frame(frame)
    unmapped: Counter = Counter()
    for (fld, value), n in res.unmapped.items():
        unmapped[(fld, text(value))] += n
    res.unmapped = unmapped
    res.notes = [text(n) for n in res.notes]
    for q in res.quarantine:
        q.message = text(q.message)
    return res


def _frame(frame: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in frame.columns
               if c.endswith(TEXT_COLUMNS_SUFFIX) or c == "participant_ref"]
    if not columns or frame.empty:
        return frame
    frame = frame.copy()
    for column in columns:
        values = frame[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values) or isinstance(
                values.dtype, pd.CategoricalDtype) or str(values.dtype).startswith("dictionary"):
            as_text = values.astype("string")
            frame[column] = as_text.str.replace(PNR_LIKE.pattern, MASK, regex=True)
    return frame
