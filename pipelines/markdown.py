"""Text for Dagster's UI, which renders every description as Markdown: a path such as
`<inbox>/<kommunkod>/` outside a code span is taken for HTML tags and vanishes (it read
"The files as delivered, ///:"), and a path with `_name_` in it turns italic."""

from __future__ import annotations

import re

# A word (no blanks; the punctuation that ends a clause after it left out) that Markdown would
# read as a tag, a link, an escape or an emphasis: `_` next to a non-word character can open one.
_WORD = re.compile(r"\S+?(?=[,;:.)]*(?:\s|$))")
_RISKY = re.compile(r"[<>*\[\]\\]|(?:^|\W)_|_(?:\W|$)")
_CODE_SPAN = re.compile(r"(`+).*?\1", re.S)


def code(text: str) -> str:
    """`text` as a code span: shown as it is, whatever it holds (a backtick too)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"


def plain(text: str) -> str:
    """A contract's comment, written as plain text with `code` in backticks, made to render as
    written: each word Markdown would read as a tag, an emphasis or a link becomes code."""
    parts, start = [], 0
    for span in _CODE_SPAN.finditer(text):
        parts += [_safe(text[start:span.start()]), span.group()]
        start = span.end()
    return "".join([*parts, _safe(text[start:])])


def _safe(text: str) -> str:
    return _WORD.sub(lambda m: code(m.group()) if _RISKY.search(m.group()) else m.group(), text)
