"""Where Dagster's build reads and writes: environment variables, else the settings file, else
the bundled sample with the public demo key. The one place of pipelines/ that reads either."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
from dotenv import dotenv_values

from utfall import keys
from utfall.adapters.personnummer import Pseudonymiser
from utfall.pipelines.markdown import code

ROOT = Path(__file__).resolve().parent.parent
# KEY=value lines, as for Dagster's own .env; a variable set in the environment wins over it.
SETTINGS_FILE = ROOT / ".env"
DEFAULTS = {
    "UTFALL_INBOX": str(keys.SAMPLE_INBOX),
    "UTFALL_DB": str(ROOT / "build" / "dagster.duckdb"),
    "UTFALL_CONFIG_DIR": str(ROOT / "config" / "kommuner"),
}


def read_environment(env: Mapping[str, str] | None = None,
                     settings_file: Path | None = None) -> dict[str, str]:
    """The UTFALL_ variables in force: the environment over the settings file over DEFAULTS.
    UTFALL_KEY is left out, and ignored in the file: keys.load reads it from the environment,
    so the key shows nowhere in the UI and lies in no file of the project folder."""
    env = os.environ if env is None else env
    path = Path(env.get("UTFALL_SETTINGS", settings_file or SETTINGS_FILE))
    from_file = {k: v for k, v in dotenv_values(path).items() if v} if path.is_file() else {}
    merged = {**DEFAULTS, **from_file, **{k: v for k, v in env.items() if v}}
    return {k: v for k, v in merged.items() if k.startswith("UTFALL_") and k != "UTFALL_KEY"}


class UtfallSettings(dg.ConfigurableResource):
    """Inbox, database, configuration folder and key file of the build (README, Dagster)."""

    inbox: str = DEFAULTS["UTFALL_INBOX"]
    db: str = DEFAULTS["UTFALL_DB"]
    config_dir: str = DEFAULTS["UTFALL_CONFIG_DIR"]
    key_file: str | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None,
                         settings_file: Path | None = None) -> UtfallSettings:
        values = read_environment(env, settings_file)
        return cls(inbox=values["UTFALL_INBOX"], db=values["UTFALL_DB"],
                   config_dir=values["UTFALL_CONFIG_DIR"], key_file=values.get("UTFALL_KEY_FILE"))

    def is_sample(self) -> bool:
        return Path(self.inbox).resolve() == keys.SAMPLE_INBOX

    def pseudonymiser(self) -> Pseudonymiser:
        """As `utfall run` would with --key-file, UTFALL_KEY, or --demo-key on the sample; the
        same messages when none is usable."""
        if self.key_file:
            return keys.load(Path(self.key_file), False, Path(self.inbox))
        if not os.environ.get(keys.ENV_VAR) and self.is_sample():
            return keys.demo()
        return keys.load(None, False, Path(self.inbox))

    def describe(self) -> str:
        """One paragraph for the UI: what the build reads and writes, and with which key."""
        if self.key_file:
            key = f"the key file {code(self.key_file)}"
        elif os.environ.get(keys.ENV_VAR):
            key = "the key in UTFALL_KEY"
        elif self.is_sample():
            key = "the public DEMO key (the bundled sample only; outputs say DEMO)"
        else:
            key = "no key: set UTFALL_KEY_FILE or UTFALL_KEY, or the first run fails"
        sample = (" This is the bundled sample: set UTFALL_INBOX, UTFALL_KEY_FILE (or UTFALL_KEY), "
                  "UTFALL_CONFIG_DIR and UTFALL_DB, in the environment or in .env, for real "
                  "deliveries.") if self.is_sample() else ""
        # paths as code: the UI renders this as Markdown, where `_x_` or `<x>` would not show
        return (f"Inbox {code(self.inbox)}; database {code(self.db)} (report beside it); "
                f"configuration {code(self.config_dir)}; pseudonymised with {key}.{sample}")
