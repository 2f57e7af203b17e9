"""The installation key: a secret outside the repository and the database (privacy.md)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from utfall.adapters.personnummer import Pseudonymiser

ENV_VAR = "UTFALL_KEY"
MIN_KEY_LENGTH = 32  # characters; keygen writes 64 hex
# Fixed and public: for the bundled sample and the tests only. Outputs built with it say so.
DEMO_KEY = b"utfall DEMO key - bundled sample and tests only - not a secret"
SAMPLE_INBOX = (Path(__file__).resolve().parent.parent / "data" / "sample" / "inbox").resolve()

HOW_TO = (
    "utfall needs an installation key to pseudonymise personnummer.\n"
    "Create one once, keep it outside the repository and the database, and never share it:\n"
    "    utfall keygen --out ~/.config/utfall/key\n"
    "then run with --key-file ~/.config/utfall/key (or set UTFALL_KEY to its contents).\n"
    "The same key must be used for every run, or people will not link between runs."
)


class KeyError_(RuntimeError):
    """No usable key; the message says what to do."""


def demo() -> Pseudonymiser:
    return Pseudonymiser(DEMO_KEY, "DEMO")


def load(key_file: Path | None, demo_key: bool, inbox: Path) -> Pseudonymiser:
    if demo_key:
        if inbox.resolve() != SAMPLE_INBOX:
            raise KeyError_(
                "--demo-key is only for the bundled sample (data/sample/inbox): it is public, "
                "so it does not protect real people.\n" + HOW_TO
            )
        return demo()
    if key_file is not None:
        return Pseudonymiser(_read_key_file(key_file), "INSTALLATION")
    env = os.environ.get(ENV_VAR)
    if env:
        key = env.strip().encode()
        if len(key) < MIN_KEY_LENGTH:
            raise KeyError_(f"{ENV_VAR} holds fewer than {MIN_KEY_LENGTH} characters: create a "
                            "proper key with 'utfall keygen'")
        return Pseudonymiser(key, "INSTALLATION")
    raise KeyError_(HOW_TO)


def _read_key_file(path: Path) -> bytes:
    if not path.is_file():
        raise KeyError_(f"key file {path} does not exist.\n" + HOW_TO)
    if path.stat().st_mode & 0o077:
        raise KeyError_(f"key file {path} is readable by others: run 'chmod 600 {path}'")
    key = path.read_text(encoding="utf-8").strip().encode()
    if len(key) < MIN_KEY_LENGTH:
        raise KeyError_(f"key file {path} holds fewer than {MIN_KEY_LENGTH} characters: create a "
                        "new one with 'utfall keygen'")
    return key


def generate(out: Path) -> Path:
    """Write a new random key, readable by its owner only. Never overwrites."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return out
