"""The ``ainsdale-etl`` executable: SIGTERM is caught first, then the command line loads."""

from __future__ import annotations


def main() -> None:
    from ainsdale_etl.runtime.shutdown import catch_sigterm_from_start

    catch_sigterm_from_start()
    from ainsdale_etl.cli.app import app

    app()
