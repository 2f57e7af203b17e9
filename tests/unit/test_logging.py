"""What the command line logs at each -v: warnings only; -v utfall's own INFO; -v -v the
libraries' INFO too (issue 23: great-expectations' 214 lines at -v, and its "ephemeral docs
site" line on every run). Each case is a process of its own, as a user's command is."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# After the command's logging is set up, what a run's libraries and utfall itself log. The
# great-expectations logger sets its own level to INFO, as that library does when imported.
SCRIPT = textwrap.dedent("""
    import logging, sys
    from utfall.cli import main
    main([*sys.argv[2:], "dictionary", "--out", sys.argv[1]], standalone_mode=False)
    gx = logging.getLogger("great_expectations.data_context.types.base")
    gx.setLevel(logging.INFO)
    gx.info("Created temporary directory '/tmp/x' for ephemeral docs site")
    logging.getLogger("urllib3.connectionpool").info("Starting new HTTPS connection")
    logging.getLogger("dagster").debug("dagster detail")
    logging.getLogger("utfall.ingest").info("adapter excel failed on 1480/excel/a.xlsx")
    logging.getLogger("utfall.run").debug("a detail")
    logging.getLogger("utfall.adapters.config").warning("namn 'x' is not SCB's name")
    logging.getLogger("great_expectations").warning("a library's warning")
""")


def stderr_of(tmp_path, *flags: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "dictionary.md"), *flags],
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stderr.splitlines()


@pytest.mark.parametrize("flags, expected", [
    ((), ["WARNING namn 'x' is not SCB's name", "WARNING a library's warning"]),
    (("-v",), ["INFO adapter excel failed on 1480/excel/a.xlsx",
               "WARNING namn 'x' is not SCB's name", "WARNING a library's warning"]),
    (("-v", "-v"), [
        "INFO great_expectations.data_context.types.base: Created temporary directory '/tmp/x' "
        "for ephemeral docs site",
        "INFO urllib3.connectionpool: Starting new HTTPS connection",
        "INFO utfall.ingest: adapter excel failed on 1480/excel/a.xlsx",
        "DEBUG utfall.run: a detail",
        "WARNING utfall.adapters.config: namn 'x' is not SCB's name",
        "WARNING great_expectations: a library's warning"]),
])
def test_what_each_verbosity_shows(tmp_path, flags, expected):
    assert stderr_of(tmp_path, *flags) == expected


def test_great_expectations_itself_is_quiet_without_v_v(tmp_path):
    """The real library: its ephemeral context logs at INFO through loggers it sets to INFO."""
    script = textwrap.dedent("""
        import sys
        from utfall.cli import main
        main([*sys.argv[2:], "dictionary", "--out", sys.argv[1]], standalone_mode=False)
        from utfall.quality import batch_definition
        batch_definition()
    """)
    for flags in ((), ("-v",)):
        done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "d.md"), *flags],
                              capture_output=True, text=True, timeout=300, check=True)
        assert done.stderr == "", flags
