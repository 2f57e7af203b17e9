"""utfall: comparable outcome statistics for municipal labour-market units.

One import root. The repository's folders keep their layout (adapters/, schemas/, marts/,
pipelines/ beside utfall/), and pyproject.toml's package-dir installs them as utfall.adapters,
utfall.schemas, utfall.marts and utfall.pipelines, so that no generic top-level name (`schemas`)
can collide with another distribution's. Run from the repository's root, the folders are also
importable under their bare names; each refuses that name (`one_name`), because a module
imported under two names is two modules with two sets of state."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGES = ("adapters", "schemas", "marts", "pipelines")


def one_name(name: str) -> None:
    """Called by each mapped package with its __name__: refuses a bare `import adapters`."""
    if not name.startswith("utfall."):
        raise ImportError(f"import utfall.{name}, not {name}: the folder {name}/ is installed "
                          f"as utfall.{name} (pyproject.toml, package-dir)")


def folder(package: str) -> Path:
    """Where one of utfall's packages ('schemas', 'marts', ...) lies, installed or editable:
    its SQL and data files are read from there."""
    return Path(str(resources.files(f"utfall.{package}")))
