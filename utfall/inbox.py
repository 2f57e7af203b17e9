"""What in an inbox is a delivery: the one place that reads the inbox's layout.

The inbox is `<inbox>/<kommunkod>/<system>/<file>`. `scan(inbox)` walks it once and sorts what it
finds into usable files (`Scan.files`, in sorted path order), problems (`Scan.problems`: a file or
folder that cannot be used, with its path and a one-line message saying what to do) and, when the
whole inbox is unusable, `Scan.fatal`. It never raises for what it finds in the inbox.

- A file may sit in subfolders of its system folder (`1480/procapita/2024/jan.csv`): it is a
  delivery like any other, known by its whole path, as the rest of utfall has always read it.
- Names starting with `.` (hidden files and folders, editors' and sync tools' leftovers) or `~$`
  (Office's owner file beside a workbook someone has open) are ignored without a word.
- Skipped loudly, as problems (the run goes on with the rest):
  - a file not inside `<kommunkod>/<system>/`;
  - a municipality folder that is not one of SCB's 290 codes (`schemas/kommuner.csv`): `1420 is
    not a municipality code; did you mean 1402 (Partille)?`. The suggestion is a configured or
    present code one keystroke away (a changed digit or two swapped ones, swaps first), else the
    nearest of SCB's codes; a letter typed for a digit (`148O`, `I480`) is read as the digit
    (`adapters.config.code_guesses`); a folder named after a municipality (`Partille`) is
    pointed to its code;
  - a system folder that is not an adapter, with "did you mean" for case differences
    (`Procapita`) and the names offices use (`fs`, `bistånd`, `ekb`, `xlsx`, `deltagare`...);
  - a folder or file that cannot be read (permission denied, an I/O error): never a crash and
    never silence;
  - a name that is not valid UTF-8 (a file copied from an old Windows share): shown with
    replacement characters (U+FFFD), to be renamed; nothing beneath such a folder is read;
  - a link that leads nowhere (an unmounted share), a link to a folder that is read already
    (a loop, or the same share linked twice), and anything that is not a regular file (a pipe).
- Links are followed, to files and folders, also outside the inbox: a municipality's share is
  often mounted into the inbox by a link, and refusing links would lose those deliveries. A file
  is known by its path inside the inbox, never by the link's target. Each real folder is read once
  (by device and inode), which stops loops.
- Fatal (`Scan.fatal`; nothing is usable, and the run must not replace the database): the inbox
  does not exist, is not a folder or cannot be read; it looks one level too deep (its folders are
  system folders: point --inbox at its parent), two levels too deep (it is a system folder inside
  a municipality folder) or one level too high (its folders hold the municipality folders: point
  --inbox at that folder); it holds no file, or no usable one. The problems are listed even then.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from utfall.adapters import SYSTEMS, redact
from utfall.adapters.config import did_you_mean
from utfall.schemas.kommuner import KOMMUNER

LAYOUT = "<kommunkod>/<system>/<file>"
SHOWN_PROBLEMS = 5  # of an inbox where nothing is usable, in the one line that stops the run
# hidden files and folders; Microsoft Office's owner files (`~$Deltagare.xlsx`) that exist while
# someone has the workbook open: neither is a delivery
IGNORED_PREFIXES = (".", "~$")

# what offices call the folder of each system, compared without case, spaces, '-' and '_'
SYSTEM_ALIASES = {
    "procapita": ("fs", "ekb", "bistånd", "bistand", "ekonomisktbistånd", "ekonomisktbistand",
                  "försörjningsstöd", "forsorjningsstod", "utbetalningar", "ifo", "procapitaexport"),
    "skapa": ("skapaexport", "progression", "bedömningar", "bedomningar"),
    "excel": ("xlsx", "xls", "ods", "kalkylark", "deltagare", "deltagarlista", "deltagarlistor",
              "listor", "ame"),
}


@dataclass(frozen=True)
class InboxFile:
    path: Path  # under the inbox as written there (a link is not resolved)
    rel_path: str  # posix, relative to the inbox: the delivery's identity
    kommun_kod: str
    system: str


@dataclass(frozen=True)
class Problem:
    """Both texts quote names from the inbox: a personnummer in them is masked and control
    characters escaped (adapters.redact.shown) before anything stores or prints them."""

    rel_path: str  # with U+FFFD where the name is not valid UTF-8
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "rel_path", redact.shown(self.rel_path))
        object.__setattr__(self, "message", redact.shown(self.message))

    def __str__(self) -> str:
        return f"{self.rel_path}: {self.message}"


@dataclass
class Scan:
    files: list[InboxFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fatal: str | None = None


def scan(inbox: Path, configured: Iterable[str] = ()) -> Scan:
    """Every usable file, every problem, and whether the inbox as a whole is usable. `configured`:
    the municipality codes that have a configuration file (preferred in "did you mean")."""
    inbox = Path(inbox)
    fatal = _inbox_problem(inbox)
    if fatal:
        return Scan(fatal=fatal)
    walker = _Walker(inbox)
    found = list(walker.walk(inbox, ()))
    result = Scan(problems=walker.problems)
    if walker.root_error:
        result.fatal = f"{inbox} cannot be read ({walker.root_error}): give utfall read access"
        return result
    known = set(configured) | {parts[0] for parts, _ in found if parts[0] in KOMMUNER}
    for parts, path in found:
        problem = _layout_problem(parts, known)
        if problem:
            result.problems.append(Problem("/".join(parts), problem))
        else:
            result.files.append(InboxFile(path, "/".join(parts), parts[0], parts[1]))
    result.problems.sort(key=lambda p: p.rel_path.split("/"))
    if not result.files:
        result.fatal = redact.shown(_why_nothing(inbox, found, result.problems))
    return result


def _inbox_problem(inbox: Path) -> str | None:
    try:
        inbox.stat()
    except (FileNotFoundError, NotADirectoryError):
        return f"{inbox} does not exist: point --inbox at the folder of municipality folders"
    except OSError as exc:
        return f"{inbox} cannot be read ({_reason(exc)}): give utfall read access"
    if not inbox.is_dir():
        return f"{inbox} is not a folder: point --inbox at the folder of municipality folders"
    return None


# --- walking the tree ----------------------------------------------------------------------------


class _Walker:
    """Depth-first, names sorted at each level: the same order as sorting the paths."""

    def __init__(self, inbox: Path):
        self.problems: list[Problem] = []
        self.seen: dict[tuple[int, int], str] = {}
        self.root_error: str | None = None
        self._remember(inbox, "the inbox itself")

    def walk(self, folder: Path, parts: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Path]]:
        entries = self._entries(folder, parts)
        for name in sorted(entries):
            if name.startswith(IGNORED_PREFIXES):
                continue
            path, sub = folder / name, (*parts, name)
            shown = _shown(sub)
            if _shown([name]) != name:
                self._problem(shown, "the name is not valid UTF-8 (shown with \ufffd); rename it")
                continue
            kind = self._kind(path, shown)
            if kind == "folder" and self._first_visit(path, shown):
                yield from self.walk(path, sub)
            elif kind == "file" and self._readable(path, shown):
                yield sub, path

    def _kind(self, path: Path, shown: str) -> str | None:
        """'folder', 'file', or None after recording why it is neither."""
        try:
            mode = path.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            self._problem(shown, f"is a link to {_shown([os.readlink(path)])}, which does not "
                                 "exist (an unmounted share?)")
            return None
        except OSError as exc:
            self._problem(shown, f"cannot be read ({_reason(exc)}); give utfall read access")
            return None
        if stat.S_ISDIR(mode):
            return "folder"
        if stat.S_ISREG(mode):
            return "file"
        self._problem(shown, "is not a regular file (a pipe or device); remove it")
        return None

    def _entries(self, folder: Path, parts: tuple[str, ...]) -> list[str]:
        try:
            with os.scandir(folder) as it:
                return [entry.name for entry in it]
        except OSError as exc:
            if not parts:
                self.root_error = _reason(exc)
            else:
                self._problem(_shown(parts), f"folder cannot be read ({_reason(exc)}); nothing "
                                             "in it is loaded: give utfall read access")
            return []

    def _readable(self, path: Path, shown: str) -> bool:
        try:
            # O_NONBLOCK: a file that is not what it seems must not hang the run
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
            return True
        except OSError as exc:
            self._problem(shown, f"file cannot be read ({_reason(exc)}); give utfall read access")
            return False

    def _first_visit(self, path: Path, shown: str) -> bool:
        st = path.stat()
        earlier = self.seen.get((st.st_dev, st.st_ino))
        if earlier is not None:
            self._problem(shown, f"is a link to a folder that is read already ({earlier}); "
                                 "skipped: remove the link")
            return False
        self._remember(path, shown)
        return True

    def _remember(self, path: Path, shown: str) -> None:
        st = path.stat()
        self.seen[(st.st_dev, st.st_ino)] = shown

    def _problem(self, shown: str, message: str) -> None:
        self.problems.append(Problem(shown, message))


def _shown(parts: Iterable[str]) -> str:
    """A path as text that can always be printed and stored: bytes that are not UTF-8 become
    U+FFFD (Python keeps them as surrogates, which crash any later encode)."""
    return "/".join(os.fsencode(p).decode("utf-8", "replace") for p in parts)


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


# --- the layout ----------------------------------------------------------------------------------


def _layout_problem(parts: tuple[str, ...], known: set[str]) -> str | None:
    if len(parts) == 1:
        return f"files belong in {LAYOUT}; move it into its municipality's system folder"
    if parts[0] not in KOMMUNER:
        return _not_a_code(parts[0], known)
    if len(parts) == 2:
        return (f"files belong in {LAYOUT}; move it into {parts[0]}/procapita, "
                f"{parts[0]}/skapa or {parts[0]}/excel")
    if parts[1] not in SYSTEMS:
        return _not_a_system(parts[1])
    return None


def _not_a_code(name: str, known: set[str]) -> str:
    return f"{name} is not a municipality code{did_you_mean(name, known)}"


def _not_a_system(name: str) -> str:
    guess = _system_guess(name)
    if guess and guess == name.casefold():
        return f"{name} is not a system folder; did you mean {guess}? (folder names are lower case)"
    if guess:
        return f"{name} is not a system folder; did you mean {guess}?"
    return f"{name} is not a system folder: use {_or(SYSTEMS)}"


def _system_guess(name: str) -> str | None:
    key = re.sub(r"[\s_\-]+", "", name.casefold())
    for system in SYSTEMS:
        if key == system or key in SYSTEM_ALIASES.get(system, ()):
            return system
    return None


def _or(items: Iterable[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


# --- an inbox with nothing usable ------------------------------------------------------------------


def _why_nothing(inbox: Path, found: list, problems: list[Problem]) -> str:
    top = _top_folders(inbox)
    here = inbox.resolve()
    if _system_guess(here.name) and here.parent.name in KOMMUNER:
        return (f"{inbox} looks like the {here.name} folder of {here.parent.name}: point --inbox "
                f"at {here.parent.parent}")
    systems = [name for name in top if _system_guess(name)]
    if systems and not any(name in KOMMUNER for name in top):
        return (f"{inbox} looks like a municipality folder (it holds {', '.join(systems)}): "
                f"point --inbox at its parent")
    higher = [name for name in top if any(sub in KOMMUNER for sub in _top_folders(inbox / name))]
    if len(higher) == 1 and not any(name in KOMMUNER for name in top):
        return (f"{inbox} holds no municipality folders but {higher[0]} does: "
                f"point --inbox at {inbox / higher[0]}")
    if higher and not any(name in KOMMUNER for name in top):
        return (f"{inbox} holds no municipality folders but {', '.join(higher)} do: "
                "point --inbox at one of them")
    if not found and not problems:
        return f"{inbox} is empty: deliveries belong in {inbox}/{LAYOUT}"
    # the run stops on this one line: it must carry the problems (their "did you mean" above all)
    shown = "; ".join(str(p) for p in problems[:SHOWN_PROBLEMS])
    more = f"; and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
    return f"no file in {inbox} can be used ({len(problems)} problems): {shown}{more}"


def _top_folders(folder: Path) -> list[str]:
    """Names of the visible folders in a folder; nothing when it cannot be read."""
    try:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it if not e.name.startswith(".") and e.is_dir())
    except OSError:
        return []
