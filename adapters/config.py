"""Per-municipality configuration: header aliases, value mappings, sheets, SKAPA scales.

What differs between municipalities lives in `config/kommuner/<kommunkod>.yaml`, layered over
`adapters/defaults.yaml`. Files are validated on load; an error names the file and the line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from utfall.schemas import kommuner
from utfall.schemas.codes import CODE_LISTS

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")
SYSTEMS = ("procapita", "skapa", "excel")
log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A configuration file is invalid; the message names file and line."""


def normalise(text: object) -> str:
    """The form in which headers and values are compared: case-folded, single-spaced, trimmed."""
    return " ".join(str(text).replace("\u00a0", " ").casefold().split())


# --- "did you mean" for a municipality code a user wrote -----------------------------------------

# letters typed for the digits they look like: O for 0, I or l for 1 (a code copied from print)
_LOOKALIKES = str.maketrans("OoQIil|ZzSsGbBgq", "0001111225566899")


def code_guesses(text: str, preferred: Iterable[str] = ()) -> list[str]:
    """The municipality codes someone who wrote `text` (not a code) most likely meant: those of
    `schemas.kommuner.guesses` (a name, a changed digit, two swapped digits), else a code one
    character away when letters are read as the digits they look like (`148O`, `I480`, `l480`:
    1480), or one character changed, added or removed (`14x0`, `148`, `14800`); a `preferred`
    code (configured, present) first, else up to three. Often none."""
    preferred = set(preferred)
    found = kommuner.guesses(text, preferred)
    word = text.strip()
    if found or re.fullmatch(r"\d{4}", word) or not 3 <= len(word) <= 5:
        return found
    read = word.translate(_LOOKALIKES)
    if read in kommuner.KOMMUNER:
        return [read]
    if sum(not ch.isdigit() for ch in read) > 1:  # a word, not a code with a typo
        return []
    near = sorted(_one_character_from(read) & kommuner.KOMMUNER.keys())
    mine = [code for code in near if code in preferred]
    return mine[:1] or near[:3]


def _one_character_from(word: str) -> set[str]:
    """Every text one digit changed, added or removed away from `word`."""
    out = set()
    for i in range(len(word) + 1):
        out |= {word[:i] + digit + word[i:] for digit in "0123456789"}
        if i < len(word):
            out |= {word[:i] + digit + word[i + 1:] for digit in "0123456789"}
            out.add(word[:i] + word[i + 1:])
    return out


def did_you_mean(text: str, preferred: Iterable[str] = ()) -> str:
    """'; did you mean 1480 (Göteborg)?' for a `text` that is not a code, or '' without a guess:
    the one wording of the suggestion wherever a code is read (inbox, configuration, CLI)."""
    labels = [kommuner.label(code) for code in code_guesses(text, preferred)]
    if not labels:
        return ""
    listed = labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"
    return f"; did you mean {listed}?"


# --- the file format, checked by pydantic -------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ValueMap(_Strict):
    exact: dict[str, str] = {}
    keywords: dict[str, str] = {}


class DimensionSpec(_Strict):
    dimension: str
    scale: tuple[float, float] | None = None


class Limits(_Strict):
    """What one file may cost to read, and what a value may be (defaults.yaml, `limits`)."""

    workbook_unpacked_mb: float | None = Field(None, gt=0)
    sheet_cells: int | None = Field(None, gt=0)
    fs_amount_max_kr: float | None = Field(None, gt=0)
    fs_amount_min_kr: float | None = Field(None, le=0)


class Section(_Strict):
    limits: Limits | None = None
    encoding: str | None = None
    delimiter: str | None = None
    sheets: list[str] = []
    header_aliases: dict[str, list[str]] = {}
    values: dict[str, ValueMap] = {}
    scale: tuple[float, float] | None = None
    dimensions: dict[str, str | DimensionSpec] = {}

    @model_validator(mode="after")
    def _scale(self) -> Section:
        if self.scale is not None and self.scale[0] >= self.scale[1]:
            raise ValueError("scale must be [min, max] with min < max")
        return self


class KommunFile(Section):
    kommun_kod: str | None = None
    namn: str | None = None
    procapita: Section = Section()
    skapa: Section = Section()
    excel: Section = Section()

    @field_validator("kommun_kod")
    @classmethod
    def _four_digits(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\d{4}", v):
            raise ValueError("kommun_kod must be four digits, as text (quote it: \"0114\")"
                             + did_you_mean(v))
        return v


# --- reading with line numbers -------------------------------------------------------------------


def _lines(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map each key path in a YAML document to its 1-based line."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, key.value)
            out[sub] = key.start_mark.line + 1
            _lines(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)
    return out


def _load_yaml(path: Path) -> tuple[dict[str, Any], dict[tuple, int]]:
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} line 1: expected a mapping of settings at the top level")
    return data, _lines(node)


def _code_problems(data: dict, prefix: tuple = ()) -> list[tuple[tuple, str]]:
    """(key path, message) for every value mapping to a field or code that does not exist."""
    problems = []
    values = data.get("values") if isinstance(data.get("values"), dict) else {}
    for fld, vmap in values.items():
        if fld not in CODE_LISTS:
            problems.append(((*prefix, "values", fld),
                             f"unknown value field; known: {', '.join(CODE_LISTS)}"))
            continue
        for kind in ("exact", "keywords"):
            mapping = vmap.get(kind) if isinstance(vmap, dict) else None
            for local, code in (mapping if isinstance(mapping, dict) else {}).items():
                if code not in CODE_LISTS[fld]:
                    problems.append(((*prefix, "values", fld, kind, local),
                                     f"{code!r} is not a {fld} code; allowed: "
                                     f"{', '.join(CODE_LISTS[fld])}"))
    dimensions = data.get("dimensions") if isinstance(data.get("dimensions"), dict) else {}
    for local, spec in dimensions.items():
        code = spec.get("dimension") if isinstance(spec, dict) else spec
        if code not in CODE_LISTS["dimension"]:
            problems.append(((*prefix, "dimensions", local), f"{code!r} is not a dimension code"))
    for system in SYSTEMS:
        if isinstance(data.get(system), dict):
            problems += _code_problems(data[system], (*prefix, system))
    return problems


def _parse(path: Path, model: type[BaseModel]) -> tuple[BaseModel, dict[tuple, int]]:
    data, lines = _load_yaml(path)
    codes = _code_problems(data)
    if codes:
        raise ConfigError("\n".join(
            f"{path} line {_nearest_line(lines, loc)}: {'.'.join(map(str, loc))}: {msg}"
            for loc, msg in codes))
    try:
        return model.model_validate(data), lines
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not isinstance(p, str) or p[0] != "_")
            line = _nearest_line(lines, loc)
            where = ".".join(str(p) for p in loc) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            problems.append(f"{path} line {line}: {where}: {msg}")
        raise ConfigError("\n".join(problems)) from None


def _nearest_line(lines: dict[tuple, int], loc: tuple) -> int:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return 1


# --- the resolved configuration an adapter receives ----------------------------------------------


@dataclass
class SystemConfig:
    """Defaults, then the municipality's top level, then its section for this system."""

    kommun_kod: str
    system: str
    source: str  # the files it was built from, for messages
    encoding: str | None = None
    delimiter: str | None = None
    sheets: list[str] = field(default_factory=list)
    header_aliases: dict[str, list[str]] = field(default_factory=dict)  # canonical -> normalised
    exact: dict[str, dict[str, str]] = field(default_factory=dict)
    keywords: dict[str, dict[str, str]] = field(default_factory=dict)
    scale: tuple[float, float] = (1.0, 5.0)
    dimensions: dict[str, DimensionSpec] = field(default_factory=dict)  # normalised local -> spec
    limits: Limits = field(default_factory=Limits)

    # answers already given: every monthly file asks the same questions
    _columns: dict[str, str | None] = field(default_factory=dict, repr=False, compare=False)
    _values: dict[tuple[str, str], str | None] = field(default_factory=dict, repr=False,
                                                       compare=False)

    def column_for(self, header: object) -> str | None:
        """The canonical column a header names, or None."""
        text = normalise(header)
        if text not in self._columns:
            self._columns[text] = next((canonical for canonical, aliases
                                        in self.header_aliases.items() if text in aliases), None)
        return self._columns[text]

    def map_value(self, fld: str, text: object) -> str | None:
        """The code for a local value, or None when no mapping covers it (never a guess)."""
        key = (fld, normalise(text))
        if key not in self._values:
            self._values[key] = self._map_normalised(*key)
        return self._values[key]

    def _map_normalised(self, fld: str, value: str) -> str | None:
        if value in self.exact.get(fld, {}):
            return self.exact[fld][value]
        for keyword, code in self._keywords_longest_first(fld):
            if re.search(rf"(?<!\w){re.escape(keyword)}", value):
                return code
        return None

    def _keywords_longest_first(self, fld: str) -> list[tuple[str, str]]:
        return sorted(self.keywords.get(fld, {}).items(), key=lambda kv: (-len(kv[0]), kv[0]))

    def _apply(self, section: Section) -> None:
        if section.limits is not None:
            self.limits = self.limits.model_copy(update=section.limits.model_dump(
                exclude_none=True))
        for attr in ("encoding", "delimiter"):
            if getattr(section, attr) is not None:
                setattr(self, attr, getattr(section, attr))
        if section.sheets:
            self.sheets = list(section.sheets)
        if section.scale is not None:
            self.scale = tuple(section.scale)
        for canonical, aliases in section.header_aliases.items():
            known = self.header_aliases.setdefault(canonical, [])
            known[:0] = [normalise(a) for a in aliases if normalise(a) not in known]
        for fld, vmap in section.values.items():
            self.exact.setdefault(fld, {}).update({normalise(k): v for k, v in vmap.exact.items()})
            self.keywords.setdefault(fld, {}).update(
                {normalise(k): v for k, v in vmap.keywords.items()}
            )
        for local, spec in section.dimensions.items():
            if isinstance(spec, str):
                spec = DimensionSpec(dimension=spec)
            self.dimensions[normalise(local)] = spec


class ConfigStore:
    """Loads and validates every configuration file once; hands out SystemConfig objects.

    `config_dir=None` means the defaults alone; a folder that is named but missing is an error
    (running on the defaults by mistake changes every figure of the municipalities it configures).
    A file is `<kommunkod>.yaml` with one of SCB's codes, or any name with `kommun_kod:` set; a
    `kommun_kod:` that differs from the file's code is an error. A `namn:` that is not SCB's name
    is only a warning (`warnings`, also logged): the name is for people, SCB's is the one shown.
    """

    def __init__(self, config_dir: Path | None):
        self.defaults: KommunFile = _parse(DEFAULTS_PATH, KommunFile)[0]
        self.kommuner: dict[str, KommunFile] = {}
        self.paths: dict[str, Path] = {}
        self.warnings: list[str] = []
        self._resolved: dict[tuple[str, str], SystemConfig] = {}
        if config_dir is not None:
            for path in sorted(_config_files(Path(config_dir))):
                self._add(path)

    def _add(self, path: Path) -> None:
        parsed, lines = _parse(path, KommunFile)
        kod = _kommun_kod(path, parsed, lines)
        if kod in self.kommuner:
            raise ConfigError(f"{path} line 1: kommun {kod} is also configured in {self.paths[kod]}")
        self._check_name(path, parsed, lines, kod)
        self.kommuner[kod] = parsed
        self.paths[kod] = path

    def _check_name(self, path: Path, parsed: KommunFile, lines: dict, kod: str) -> None:
        scb = kommuner.name(kod)
        if parsed.namn is None or _plain_name(parsed.namn) in (scb.casefold(), f"{scb}s".casefold()):
            return
        warning = (f"{path} line {lines.get(('namn',), 1)}: namn {parsed.namn!r} is not SCB's name "
                   f"for {kod} ({scb}); {scb} is used")
        self.warnings.append(warning)
        log.warning("%s", warning)

    def for_system(self, kommun_kod: str, system: str) -> SystemConfig:
        """Built once per municipality and system; adapters only read it."""
        key = (kommun_kod, system)
        if key not in self._resolved:
            self._resolved[key] = self._resolve(kommun_kod, system)
        return self._resolved[key]

    def _resolve(self, kommun_kod: str, system: str) -> SystemConfig:
        sources = [str(DEFAULTS_PATH.name)]
        cfg = SystemConfig(kommun_kod=kommun_kod, system=system, source="")
        cfg._apply(self.defaults)
        cfg._apply(getattr(self.defaults, system))
        own = self.kommuner.get(kommun_kod)
        if own is not None:
            cfg._apply(own)
            cfg._apply(getattr(own, system))
            sources.append(str(self.paths[kommun_kod]))
        cfg.source = " + ".join(sources)
        return cfg

    def has_own(self, kommun_kod: str) -> bool:
        return kommun_kod in self.kommuner

    def fingerprint(self, kommun_kod: str, system: str) -> str:
        """sha256 of everything in the resolved configuration that can change what an adapter
        reads from a file: equal configurations give equal fingerprints in any process, and any
        change to a setting, a mapping or the defaults gives another. Not in it: which files the
        settings came from, the answers cached, and the municipality and system (a file's path
        names them)."""
        cfg = self.for_system(kommun_kod, system)
        settings = {f.name: getattr(cfg, f.name) for f in fields(cfg)
                    if f.name not in _NOT_IN_FINGERPRINT and not f.name.startswith("_")}
        text = json.dumps(settings, ensure_ascii=False, separators=(",", ":"), default=_plain)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


_NOT_IN_FINGERPRINT = {"kommun_kod", "system", "source"}


def _plain(value: object) -> object:
    """JSON for what json does not know; dict order is kept, as it can decide a header's column."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def _config_files(config_dir: Path) -> list[Path]:
    try:
        if not config_dir.is_dir():
            what = "is not a folder" if config_dir.exists() else "does not exist"
            raise ConfigError(f"configuration folder {config_dir} {what} (--config-dir)")
        return list(config_dir.glob("*.y*ml"))
    except OSError as exc:
        raise ConfigError(f"configuration folder {config_dir} cannot be read "
                          f"({exc.strerror or exc})") from None


def _kommun_kod(path: Path, parsed: KommunFile, lines: dict) -> str:
    """The municipality a file configures: its name, or its `kommun_kod:` when it is not named
    after a code; both must agree and be one of SCB's codes."""
    line = lines.get(("kommun_kod",), 1)
    named = path.stem if re.fullmatch(r"\d{4}", path.stem) else None
    if named and parsed.kommun_kod and parsed.kommun_kod != named:
        raise ConfigError(f"{path} line {line}: kommun_kod {parsed.kommun_kod!r} differs from "
                          f"the file's name ({named}); make them the same")
    kod = named or parsed.kommun_kod
    if kod is None:
        raise ConfigError(f"{path} line 1: name the file <kommunkod>.yaml or set kommun_kod"
                          + did_you_mean(path.stem))
    if kommuner.name(kod) is None:
        raise ConfigError(f"{path} line {line if not named else 1}: {kod} is not a municipality "
                          f"code (SCB){did_you_mean(kod)}")
    return kod


def _plain_name(namn: str) -> str:
    """A name as people write it, compared with SCB's: `Göteborgs Stad` and `Ale kommun` are
    SCB's Göteborg and Ale."""
    text = " ".join(namn.casefold().split())
    return re.sub(r" (kommun|stad)$", "", text)
