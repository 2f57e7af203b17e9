"""The `utfall` command line. Reads the environment and arguments; everything else gets settings."""

from __future__ import annotations

import logging
import re
import shlex
import signal
import sys
from datetime import date
from pathlib import Path

import click

from utfall import keys
from utfall.adapters.config import ConfigError
from utfall.files import open_read_only

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config" / "kommuner"


def _as_of(ctx, param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date in the form YYYY-MM-DD") from None


class _Errors(click.Group):
    """Every failure a user can meet ends in one line and an exit status (README, "Exit
    status"): 1 a run that failed, 2 a usage error; a traceback only with --verbose."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise click.ClickException("stopped before the end: nothing was changed") from None
        except Exception as exc:  # noqa: BLE001 - the one place that turns failures into words
            raise _as_click(exc, ctx) from None


def _as_click(exc: Exception, ctx) -> click.ClickException:
    from utfall.run import UsageError

    if isinstance(exc, UsageError):
        return click.UsageError(str(exc), ctx)
    if isinstance(exc, _expected_errors()):
        return click.ClickException(str(exc))
    logging.getLogger(__name__).info("details", exc_info=exc)
    if isinstance(exc, OSError):
        where = getattr(exc, "filename", None) or ""
        return click.ClickException(f"{where}: {exc.strerror or exc}".lstrip(": "))
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return click.ClickException(f"failed unexpectedly ({type(exc).__name__}: {text}); run "
                                "with -v to see the details, and report it")


def _expected_errors() -> tuple[type[Exception], ...]:
    from utfall.files import FileProblem
    from utfall.ingest import KeyMismatch, TooManyWithdrawals
    from utfall.lock import Locked
    from utfall.run import RunError

    return (ConfigError, keys.KeyError_, FileProblem, KeyMismatch, TooManyWithdrawals, Locked,
            RunError)


def _on_terminate(signum, frame) -> None:
    """A killed run (SIGTERM, SIGHUP) unwinds like an interrupted one: its temporary files go."""
    raise KeyboardInterrupt


@click.group(cls=_Errors)
@click.option("-v", "--verbose", count=True,
              help="-v: utfall's own progress and details; -v -v: other libraries' too "
                   "(great-expectations, dagster, urllib3...), otherwise only their warnings.")
def main(verbose: int) -> None:
    """utfall: comparable outcome statistics for municipal labour-market units."""
    configure_logging(verbose)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_terminate)


# the loggers that are utfall's own (its packages are all under utfall: pyproject.toml's
# package-dir); every other one belongs to a library
OWN_LOGGERS = ("utfall",)


class _Verbosity(logging.Filter):
    """Which records reach the terminal: utfall's own from `own`, every library's from `others`.
    A filter on the handler, not logger levels: libraries set their own loggers' levels when
    imported (great-expectations sets one to INFO, which printed its "ephemeral docs site" line on
    every run), and a logger with a level of its own passes its records to the root's handlers
    whatever the root's level is."""

    def __init__(self, own: int, others: int):
        super().__init__()
        self.own, self.others = own, others

    def filter(self, record: logging.LogRecord) -> bool:
        mine = record.name.split(".")[0] in OWN_LOGGERS
        return record.levelno >= (self.own if mine else self.others)


class _Stderr(logging.StreamHandler):
    """Writes to sys.stderr as it is when a record comes, not as it was when the handler was made
    (click's test runner swaps it for each command)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(verbose: int) -> None:
    """0: warnings only; 1 (-v): utfall's own INFO; 2 (-v -v): libraries' INFO and utfall's
    DEBUG; 3: everything. Replaces the handler of an earlier call (one per command)."""
    own = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    others = logging.WARNING if verbose < 2 else logging.INFO if verbose == 2 else logging.DEBUG
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(logging.Formatter(
        "%(levelname)s %(name)s: %(message)s" if verbose >= 2 else "%(levelname)s %(message)s"))
    handler.addFilter(_Verbosity(own, others))
    root.addHandler(handler)
    root.setLevel(min(own, others))


def _memory_limit(ctx, param, value: str | None) -> str | None:
    """DuckDB's own syntax (4GB, 512MB, 8GiB), and at least 256 MB: below it DuckDB fails late."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*", value.upper())
    if not match:
        raise click.BadParameter(f"'{value}' is not a size such as 4GB or 512MB")
    number, unit = float(match[1]), match[2].replace("I", "")
    megabytes = number * {"KB": 1 / 1000, "MB": 1, "GB": 1000, "TB": 1_000_000}[unit]
    if megabytes < 256:
        raise click.BadParameter(f"'{value}' is too little for a build; give at least 256MB")
    return value.strip()


@main.command()
@click.option("--inbox", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Inbox folder: <kommunkod>/<system>/<file>.")
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="DuckDB database file to build (created if missing).")
@click.option("--as-of", callback=_as_of, help="Data complete up to this date (YYYY-MM-DD).")
@click.option("--key-file", type=click.Path(path_type=Path, dir_okay=False),
              help="File holding the installation key (else the UTFALL_KEY variable).")
@click.option("--demo-key", is_flag=True, help="Use the public demo key (bundled sample only).")
@click.option("--config-dir", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_CONFIG_DIR, show_default=True,
              help="Per-municipality configuration files.")
@click.option("--min-cell", type=click.IntRange(min=1), default=5, show_default=True,
              help="Smallest published cell.")
@click.option("--memory-limit", default=None, callback=_memory_limit,
              show_default="4GB or $UTFALL_MEMORY_LIMIT",
              help="DuckDB's memory cap (it spills to disk beyond it), e.g. 8GB.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes that read files [default: one per core].")
@click.option("--allow-withdraw", is_flag=True,
              help="Take out the rows of files removed from the inbox even when they are more "
                   "than a small share of what is loaded.")
@click.option("--wait", "wait_seconds", type=click.FloatRange(min=0), default=0,
              show_default=True, help="Seconds to wait for another run writing the database.")
@click.option("--allow-empty", is_flag=True,
              help="Replace a database that publishes figures with one that publishes none "
                   "(else such a run is refused: a typo in --as-of, a wrong --inbox).")
@click.option("--rebuild", is_flag=True,
              help="Build everything again even when nothing changed since the latest run "
                   "(else such a run changes nothing and says so).")
def run(inbox, db_path, as_of, key_file, demo_key, config_dir, min_cell, memory_limit,
        workers, allow_withdraw, wait_seconds, allow_empty, rebuild) -> None:
    """Ingest the inbox, build every table and write the report beside the database."""
    from tqdm import tqdm

    from utfall.run import DEFAULT_MEMORY_LIMIT, check_as_of
    from utfall.run import run as run_pipeline

    try:
        check_as_of(as_of, date.today())
    except RuntimeError as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from None
    if memory_limit is None:  # $UTFALL_MEMORY_LIMIT is checked as the option is
        _memory_limit(None, None, DEFAULT_MEMORY_LIMIT)
    pseudo = _key(key_file, demo_key, inbox)
    summary = run_pipeline(
        inbox, db_path, pseudo, config_dir, as_of, min_cell,
        progress=lambda files: tqdm(files, desc="Läser filer", unit="fil", file=sys.stderr,
                                    disable=None),
        memory_limit=memory_limit or DEFAULT_MEMORY_LIMIT, workers=workers,
        allow_withdraw=allow_withdraw, wait_seconds=wait_seconds, allow_empty=allow_empty,
        rebuild=rebuild,
    )
    if summary.unchanged_since is not None:
        click.echo(f"Nothing changed since the run of {summary.unchanged_since:%Y-%m-%d %H:%M:%S}: "
                   "the database and the report are as they were")
        click.echo(f"Database: {summary.db_path}")
        click.echo(f"Report: {summary.report_path}")
    else:
        _print_summary(summary)
        _print_where_to_look(summary)
    if summary.audit_safe is False:
        raise click.ClickException("the disclosure audit found published counts that can be "
                                   "pinned: do not publish the report (utfall audit --db ... "
                                   "names them)")


def _key(key_file, demo_key, inbox):
    try:
        return keys.load(key_file, demo_key, inbox)
    except keys.KeyError_ as exc:
        raise click.ClickException(str(exc)) from None


SHOW_PER_CHANGE = 10  # files named per kind of change; a first build adds hundreds
CHANGE_WORDS = {
    "ADDED": "added", "CORRECTED": "corrected (replaces its earlier version)",
    "REVERTED": "put back to an earlier version", "RESTORED": "back in the inbox",
    "MOVED": "moved", "REREAD": "read again (its configuration or the adapters changed)",
}


def _say(line: str) -> None:
    """A line that quotes names or messages from the inbox: masked and with control characters
    escaped again here, so that no name can forge or erase a line (they are stored so too)."""
    from utfall.adapters.redact import shown

    click.echo(shown(line))


def _print_summary(s) -> None:
    i = s.ingest
    click.echo(f"Files: {len(i.files)} (loaded {i.count('LOADED')}, unchanged {i.count('UNCHANGED')}, "
               f"duplicates {i.count('DUPLICATE')}, rejected {i.count('REJECTED')}, "
               f"withdrawn {len(i.withdrawn)}, skipped {len(i.problems)})")
    click.echo(f"Rows: read {i.total('rows_read')}, loaded {i.total('rows_loaded')}, "
               f"quarantined {i.total('rows_quarantined')}, skipped {i.total('rows_skipped')}")
    for f in i.files:
        if f.status == "REJECTED":
            _say(f"  rejected: {f.message}")
    by_message: dict[str, list[str]] = {}
    for problem in i.problems:  # a misnamed folder of 50 files is one line, not 50
        by_message.setdefault(problem.message, []).append(problem.rel_path)
    for message, paths in by_message.items():
        more = f" (and {len(paths) - 1} more files like it)" if len(paths) > 1 else ""
        _say(f"  skipped: {paths[0]}: {message}{more}")
    for change, words in CHANGE_WORDS.items():
        changed = [f for f in i.files if f.change == change]
        for f in changed[:SHOW_PER_CHANGE]:
            where = f" from {f.moved_from}" if f.moved_from else ""
            _say(f"  {words}{where}: {f.rel_path}")
        if len(changed) > SHOW_PER_CHANGE:
            _say(f"  … and {len(changed) - SHOW_PER_CHANGE} more {words}")
    for _, why in i.withdrawn:
        _say(f"  withdrawn: {why} (its rows were taken out)")
    _print_duplicates(s)
    click.echo(f"As of: {s.as_of}")
    for warning in s.warnings:
        click.echo(f"WARNING: {warning}")
    click.echo(f"Published KPI rows: {s.kpi_rows} ({s.kpi_suppressed} suppressed)")
    click.echo(f"Disclosure audit: {s.audit_summary}")
    click.echo(f"Database: {s.db_path}")
    if s.report_path:
        click.echo(f"Report: {s.report_path}")
    if s.key_label == "DEMO":
        click.echo("Built with the public DEMO key: for the bundled sample only, not real people.")


def _print_duplicates(s) -> None:
    """Each duplicate with the file it duplicates; the same file in two municipalities' folders
    as a warning, for one of them then has no rows from it (and shows as missing in the report)."""
    from utfall.quarantine import duplicates
    from utfall.schemas.kommuner import label, name

    outcomes = [f for f in s.ingest.files if f.status == "DUPLICATE"]
    if not outcomes:
        return
    with open_read_only(s.db_path) as con:
        found = {d.path: d for d in duplicates(con, [f.rel_path for f in outcomes])}
    for f in outcomes:
        d = found.get(f.rel_path)
        if d is None:  # no record to name the other file: what ingest said
            _say(f"  duplicate: {f.rel_path}: {f.message}")
        elif not d.across_municipalities:
            _say(f"  duplicate: {d.path} is the same file as {d.of_path} (loaded once)")
    for d in (d for d in found.values() if d.across_municipalities):
        _say(f"WARNING: {d.path} and {d.of_path} are the same file in the folders of "
             f"{label(d.kommun_kod)} and {label(d.of_kommun)}: it is loaded once, as "
             f"{name(d.of_kommun)}'s, and {name(d.kommun_kod)} gets no rows from it; replace the "
             "one in the wrong folder with that municipality's own file")


def _print_where_to_look(s) -> None:
    """The summary's last lines: what is left to fix, and the command that lists it."""
    from utfall.quarantine import to_look_at

    with open_read_only(s.db_path) as con:
        found = to_look_at(con)
    db = shlex.quote(str(s.db_path))
    if found.quarantined_rows:
        click.echo(f"Quarantined rows: {found.quarantined_rows} in {found.quarantined_files} "
                   f"file(s); utfall quarantine --db {db} lists them with file, line, column "
                   "and message")
    else:
        click.echo("Quarantined rows: none")
    if found.unmapped_values or found.unknown_headers:
        click.echo(f"Unmapped values: {found.unmapped_values}, headers not understood: "
                   f"{found.unknown_headers}; utfall unmapped --db {db} lists them")
    else:
        click.echo("Unmapped values: none")


@main.command()
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write the new key (must not exist).")
def keygen(out: Path) -> None:
    """Create an installation key, readable by its owner only."""
    try:
        keys.generate(out)
    except FileExistsError:
        raise click.ClickException(f"{out} exists already; a key is never overwritten") from None
    click.echo(f"Wrote a new installation key to {out} (owner-only). Keep it out of the "
               "repository and back it up: without it, later runs cannot link people.")


@main.command()
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              required=True)
def unmapped(db_path: Path) -> None:
    """List, per municipality, the values no mapping covers, with counts, and the headers no
    alias covers (add them under header_aliases in the municipality's configuration)."""
    with open_read_only(db_path) as con:
        values = con.execute(
            "select u.kommun_kod, u.system, u.field, u.value_local, sum(u.n) as n "
            "from meta.unmapped_value as u join meta.delivery as d using (delivery_id) "
            "where d.status = 'LOADED' group by all order by 1, 2, 3, n desc, 4"
        ).fetchall()
        headers = _unknown_headers(con)
    if not values and not headers:
        click.echo("Every value and every header is covered by a mapping.")
        return
    for kommun, system in sorted({r[:2] for r in values} | {r[:2] for r in headers}):
        _say(f"{kommun} {system}:")
        for _, _, field, value, n in (r for r in values if r[:2] == (kommun, system)):
            _say(f"  {field:<14} {n:>6}  {value}")
        mine = [r[2:] for r in headers if r[:2] == (kommun, system)]
        if mine:
            _say("  headers not understood:")
        for path, sheet, header, nearest in mine:
            where = Path(path).name + (f", sheet {sheet}" if sheet else "")
            hint = f" (nearest known header: {nearest})" if nearest else ""
            _say(f"    {where}: '{header}'{hint}")


def _kommun(ctx, param, value: str | None) -> str | None:
    from utfall.adapters.config import did_you_mean
    from utfall.schemas.kommuner import KOMMUNER

    if value is None or value in KOMMUNER:
        return value
    raise click.BadParameter(f"{value} is not a municipality code{did_you_mean(value)}")


@main.command("quarantine")
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              required=True)
@click.option("--kommun", callback=_kommun, help="Only this municipality (its four-digit code).")
@click.option("--reason", help="Only this reason, e.g. DATE_FUTURE.")
def quarantine_cmd(db_path: Path, kommun: str | None, reason: str | None) -> None:
    """List the rows that could not be loaded (meta.quarantine), file by file: the line (or sheet
    and row), the column, what was wrong and the reason code. Only files loaded now."""
    from itertools import groupby

    from utfall.adapters.base import Reason
    from utfall.quarantine import quarantined

    if reason is not None and reason.upper() not in Reason.__members__:
        raise click.BadParameter(f"'{reason}' is not a reason; the reasons are "
                                 f"{', '.join(Reason.__members__)}", param_hint="--reason")
    with open_read_only(db_path) as con:
        rows = quarantined(con, kommun, reason and reason.upper())
    if not rows:
        click.echo("No quarantined rows.")
        return
    files = {row.path for row in rows}
    click.echo(f"{len(rows)} quarantined rows in {len(files)} file(s):")
    for path, in_file in groupby(rows, key=lambda row: row.path):
        _say(path)
        for row in in_file:
            column = f", column '{row.column}'" if row.column else ""
            _say(f"  {row.where}{column}: {row.detail} ({row.reason})")


def _unknown_headers(con) -> list[tuple]:
    """(kommun, system, path, sheet, header, nearest alias) of live deliveries; none in a
    database built before headers were recorded."""
    import duckdb

    try:
        return con.execute(
            "select h.kommun_kod, h.system, d.path, h.sheet, h.header, h.nearest_alias "
            "from meta.unknown_header as h join meta.delivery as d using (delivery_id) "
            "where d.status = 'LOADED' order by 1, 2, 3, 4 nulls first, 5"
        ).fetchall()
    except duckdb.CatalogException:
        return []


@main.command("export")
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              required=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "both", "kolada"]),
              default="both", show_default=True,
              help="csv: for Excel (UTF-8 with BOM, ';', decimal comma); xlsx: typed cells and a "
                   "sheet explaining every column; kolada: yearly rows shaped as Kolada's open "
                   "data, for the analysts' own tools.")
@click.option("--decimals", type=click.IntRange(min=0, max=10), default=4, show_default=True,
              help="Decimals of shares and intervals in csv/xlsx (months: 2; counts: whole).")
@click.option("--exact", is_flag=True,
              help="With --format kolada only: read the exact marts.kpi_value instead of the "
                   "published table. The file says EXAKT-ej-for-spridning in its name: it is for "
                   "the analysts' own checks and must never leave them.")
def export_cmd(db_path: Path, out_dir: Path, fmt: str, decimals: int, exact: bool) -> None:
    """Export the published KPI table (perturbed, suppressed) for the managers' network.

    --format kolada writes the published yearly rows (TOTAL as gender T, KON as K/M) in the shape
    of Kolada's open data (kpi, municipality, period, gender, value, count, status), shares in
    percent, so that GR's figures sit beside Kolada's in the analysts' tools."""
    from utfall.export import export, kolada

    if exact and fmt != "kolada":
        raise click.UsageError("--exact goes with --format kolada only: the csv and xlsx "
                               "exports are for the managers' network and are always published.")
    if fmt == "kolada":
        paths = [kolada(db_path, out_dir, exact)]
    else:
        paths = export(db_path, out_dir, ("csv", "xlsx") if fmt == "both" else (fmt,), decimals)
    for path in paths:
        click.echo(f"Wrote {path}")
    if exact:
        click.echo("Exact figures, not perturbed or suppressed: for the analysts only, never to "
                   "be sent on.")


@main.command()
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
              default=None, show_default="in the repository its docs/data_dictionary.md, "
                                         "elsewhere standard output",
              help="Where to write the dictionary ('-' for standard output).")
def dictionary(out: Path | None) -> None:
    """Write the data dictionary of every table and column, generated from the schema.

    Run inside utfall's repository it rewrites the repository's docs/data_dictionary.md (from
    any folder of it); anywhere else it prints to standard output, so that it never leaves a
    docs/ folder where it happens to be run."""
    from utfall.dictionary import generate, repository_copy, write

    out = out or repository_copy()
    if out is None or str(out) == "-":
        click.echo(generate(), nl=False)
        return
    click.echo(f"Wrote {write(out)}")


@main.command("audit")
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              required=True)
@click.option("--min-cell", type=click.IntRange(min=1), default=None,
              show_default="the run's, else 5", help="Smallest published cell.")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write every figure of the audit as JSON.")
@click.option("--exact", is_flag=True,
              help="Solve every cell's range exactly (slower; else cells are proved wide by "
                   "feasible points and only the rest solved).")
@click.option("--exact-sample", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also solve this many cells drawn at random exactly, to state exact widths.")
@click.option("--noise", type=click.IntRange(min=0), default=8, show_default=True,
              help="The noise bound the intruder assumes (0: a table of exact counts).")
def audit_cmd(db_path: Path, min_cell: int | None, json_path: Path | None, exact: bool,
              exact_sample: int, noise: int) -> None:
    """Audit the published table as an intruder would: can any small count be pinned?

    Exits 1 when a count can be pinned to one value: such a table must not be published. A
    SIGTERM or Ctrl-C stops it at once, its solver processes with it."""
    import duckdb

    from utfall.marts.audit import AuditError, audit

    try:
        with open_read_only(db_path) as con:
            if min_cell is None:
                try:
                    row = con.execute("select min_cell from meta.run where min_cell is not null "
                                      "order by finished_at desc nulls last limit 1").fetchone()
                except duckdb.Error:
                    row = None
                min_cell = int(row[0]) if row else 5
            result = audit(con, min_cell, exact=exact, noise=noise, exact_sample=exact_sample)
    except (duckdb.Error, AuditError) as exc:
        raise click.ClickException(f"{db_path}: {exc}") from None
    click.echo(result.summary())
    click.echo(result.summary_sv())
    if json_path:  # written beside and moved into place: a stopped audit leaves no half file
        tmp = json_path.with_name(f".{json_path.name}.tmp")
        result.to_json(tmp)
        tmp.replace(json_path)
        click.echo(f"Wrote {json_path}")
    if result.infeasible_components or result.unsolved_cells:
        raise click.ClickException(
            f"{result.infeasible_components} part(s) of the table contradict the relations, "
            f"{result.unsolved_cells} cell(s) unsolved: the audit is inconclusive")
    if result.pinned:
        raise click.ClickException(f"{result.pinned} published count(s) can be pinned to one "
                                   "value: do not publish this table")
