"""Constants a subprocess test changes, as ``monkeypatch.setattr`` does in process: inert
unless ``AINSDALE_TEST_CONSTANTS`` is set, e.g.::

    AINSDALE_TEST_CONSTANTS="BULK_MIN_ROWS=1"       # every load of an empty table is bulk
    AINSDALE_TEST_CONSTANTS="DB_ATTEMPTS=20"        # retry long enough to be stopped in a backoff

Tuning that nobody should turn is not a setting (docs/reference/configuration.md lists what
is); a test that needs another value in the real executable asks for it here, by name.
"""

from __future__ import annotations

import importlib
import os

ENV = "AINSDALE_TEST_CONSTANTS"
# Each constant a test may change, and the module that reads it at each use.
CONSTANTS = {
    "BULK_MIN_ROWS": "ainsdale_etl.load.bulk",
    "DB_ATTEMPTS": "ainsdale_etl.core.retry",
}


def apply_test_constants() -> None:
    """Set each ``NAME=integer`` of ``$AINSDALE_TEST_CONSTANTS``."""
    for part in filter(None, (p.strip() for p in os.environ.get(ENV, "").split(","))):
        name, _, value = part.partition("=")
        if name not in CONSTANTS or not value.isdigit():
            raise SystemExit(
                f"error: {ENV}: {part!r} is not NAME=integer, NAME one of {', '.join(CONSTANTS)}"
            )
        setattr(importlib.import_module(CONSTANTS[name]), name, int(value))
