"""Metrics in the JSON log lines: valid CloudWatch Embedded Metric Format on the events that
measure something, low-cardinality dimensions, and the freshness a run ends with."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from ainsdale_etl.cli.output import JsonReporter
from ainsdale_etl.ops.freshness import freshness

NAMESPACE = "ainsdale-etl-test"
NEVER_DIMENSIONS = {"batch_id", "message", "timestamp", "incident"}


def assert_valid_emf(record: dict[str, Any]) -> list[str]:
    """What CloudWatch checks of an EMF line; returns its metric names."""
    meta = record["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000
    (directive,) = meta["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    names = []
    for dimension_set in directive["Dimensions"]:
        for dimension in dimension_set:
            assert isinstance(record[dimension], str), dimension  # a top-level string
            assert dimension not in NEVER_DIMENSIONS
    for metric in directive["Metrics"]:
        value = record[metric["Name"]]  # a top-level number
        assert isinstance(value, int | float) and not isinstance(value, bool), metric
        assert metric["Unit"] in {"Count", "Seconds", "Count/Second"}
        names.append(metric["Name"])
    return names


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_timed_events_carry_rows_seconds_and_throughput_per_step_and_table():
    stream = io.StringIO()
    reporter = JsonReporter(stream, namespace=NAMESPACE)
    timing = {"rows": 120, "seconds": 0.5, "rows_per_s": 240}
    reporter.event("table_extracted", step="extract", batch_id="B1", table="staff", **timing)
    reporter.event("table_loaded", step="load", batch_id="B1", table="fact_sales_order",
                   rows=0, seconds=0.0, rows_per_s=None, merged=0, path="merge")  # fmt: skip
    reporter.event("batch_loaded", step="load", batch_id="B1", tables={}, **timing)
    reporter.event("step_started", step="load")
    extracted, loaded, batch, plain = lines(stream)
    assert assert_valid_emf(extracted) == ["rows", "seconds", "rows_per_s"]
    assert extracted["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["step", "table"]]
    assert assert_valid_emf(loaded) == ["rows", "seconds"]  # no rate without a duration
    assert assert_valid_emf(batch) == ["rows", "seconds", "rows_per_s", "batches"]
    assert batch["batches"] == 1 and batch["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["step"]
    ]
    assert "_aws" not in plain


def test_freshness_and_failures_are_metrics_and_none_without_a_namespace():
    stream = io.StringIO()
    reporter = JsonReporter(stream, namespace=NAMESPACE)
    reporter.event("freshness", batches_pending=2, lag_seconds=95.5)
    reporter.error("boom", exit_code=1, command="run-all")
    fresh, failed = lines(stream)
    assert assert_valid_emf(fresh) == ["batches_pending", "lag_seconds"]
    assert fresh["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]
    assert assert_valid_emf(failed) == ["failures"] and failed["failures"] == 1
    quiet = io.StringIO()
    JsonReporter(quiet).event("freshness", batches_pending=2, lag_seconds=1.0)
    assert "_aws" not in lines(quiet)[0]


def test_a_dashboard_not_published_is_1_and_one_published_0_on_the_lines_that_say_so():
    stream = io.StringIO()
    reporter = JsonReporter(stream, namespace=NAMESPACE)
    reporter.warning("the dashboard was not published (...)", kind="report_not_published")
    reporter.event("result", "report published to ...", batch_id="B1", kind="report_published")
    reporter.warning("chart top_designs left out", kind="report_chart_left_out")
    stale, published, other = lines(stream)
    assert assert_valid_emf(stale) == ["dashboard_unpublished"]
    assert stale["dashboard_unpublished"] == 1 and stale["event"] == "warning"
    assert assert_valid_emf(published) == ["dashboard_unpublished"]
    assert published["dashboard_unpublished"] == 0
    assert stale["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]
    assert "_aws" not in other


def test_lag_is_measured_from_the_check_when_nothing_waits_else_from_the_newest_load():
    now = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
    older, newer = "20261125T170000000000Z", "20261125T173000000000Z"
    checked = now - timedelta(seconds=40)
    assert freshness([older, newer], [older, newer], checked, now) == {
        "batches_pending": 0,
        "lag_seconds": 40.0,
    }
    # A batch waits: the warehouse is as fresh as its newest load, whatever was just read.
    assert freshness([older, newer], [older], checked, now) == {
        "batches_pending": 1,
        "lag_seconds": 3600.0,
    }
    assert freshness([older], [], None, now) == {"batches_pending": 1}


def test_a_run_ends_with_its_freshness_and_every_metric_line_is_valid(cli, etl_env, monkeypatch):
    monkeypatch.setenv("AINSDALE_METRICS_NAMESPACE", NAMESPACE)
    result = cli("--log-format", "json", "run-all")
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    measured = [r for r in records if "_aws" in r]
    assert {r["event"] for r in measured} >= {
        "table_extracted", "batch_committed", "table_transformed", "batch_transformed",
        "table_loaded", "batch_loaded", "freshness",
    }  # fmt: skip
    for record in measured:
        assert_valid_emf(record)
    (fresh,) = [r for r in records if r["event"] == "freshness"]
    assert fresh["batches_pending"] == 0 and 0 <= fresh["lag_seconds"] < 60
