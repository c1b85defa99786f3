"""The reporters: JSON lines ready for CloudWatch Logs Insights, rich lines and progress bars on a
terminal, and both remembering where a run was for the failure alert."""

from __future__ import annotations

import io
import json

from rich.console import Console

from ainsdale_etl.cli.output import ConsoleReporter, JsonReporter
from ainsdale_etl.core.events import NullReporter


def test_json_lines_carry_timestamp_level_event_and_the_facts():
    stream = io.StringIO()
    reporter = JsonReporter(stream)
    reporter.event("table_extracted", step="extract", batch_id="B1", table="staff", rows=3)
    reporter.warning("odd column", step="transform")
    reporter.error("it broke", exit_code=1)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["level"], r["event"]) for r in records] == [
        ("info", "table_extracted"),
        ("warning", "warning"),
        ("error", "failed"),
    ]
    assert all(r["timestamp"].endswith("+00:00") for r in records)
    assert records[0] | {"timestamp": None} == {
        "timestamp": None,
        "level": "info",
        "event": "table_extracted",
        "step": "extract",
        "batch_id": "B1",
        "table": "staff",
        "rows": 3,
    }


def test_progress_is_silent_in_json_logs():
    stream = io.StringIO()
    reporter = JsonReporter(stream)
    with reporter.progress("extract", total=2) as bar:
        bar.advance()
        bar.advance()
    assert stream.getvalue() == ""


def test_a_console_progress_bar_counts_and_lets_events_print_above_it():
    reporter = ConsoleReporter()
    out = io.StringIO()
    reporter.console = Console(file=out, force_terminal=True, color_system=None, width=100)
    with reporter.progress("extract", total=3) as bar:
        for table in ("staff", "design", "currency"):
            reporter.event("table_extracted", step="extract", table=table, rows=1)
            bar.advance()
        assert bar.bar.tasks[0].completed == 3
    text = out.getvalue()
    assert "extract · currency · 1 row" in text and "table extracted" in text


def test_the_null_reporter_accepts_progress():
    with NullReporter().progress("load", total=1) as bar:
        bar.advance()
