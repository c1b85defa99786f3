"""The ``ainsdale-etl`` executable: SIGTERM is caught first, then the command line loads."""

from __future__ import annotations


def main() -> None:
    import os

    from ainsdale_etl.runtime.shutdown import catch_sigterm_from_start

    catch_sigterm_from_start()
    if os.environ.get("AINSDALE_TEST_CONSTANTS"):  # the subprocess tests' monkeypatch
        from ainsdale_etl.testing.constants import apply_test_constants

        apply_test_constants()
    from ainsdale_etl.cli.app import app

    app()
