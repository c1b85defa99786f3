"""CloudWatch metrics from the JSON log lines: the Embedded Metric Format, with no agent.

A log line whose ``_aws`` block names some of its own keys as metrics becomes CloudWatch
metrics as CloudWatch Logs ingests it (awslogs, as the Fargate task logs). The metric names are
the events' own field names, so a Logs Insights query and a metric say the same thing:

- ``rows``, ``seconds``, ``rows_per_s`` per ``step`` and ``table`` (``table_extracted``,
  ``table_transformed``, ``table_loaded``), and per ``step`` for a whole batch
  (``batch_committed``, ``batch_transformed``, ``batch_loaded``, which also count 1 in
  ``batches``);
- ``batches_pending`` and ``lag_seconds`` (``freshness``: see ops/freshness.py);
- ``failures`` per ``command`` (``failed``);
- ``dashboard_unpublished``: 1 when a load's dashboard could not be published (the warning of
  kind ``report_not_published``), 0 when it was (the result of kind ``report_published``).

A warning or a result line is found here by its ``kind``.

Dimensions stay few and bounded (step, table, command: tens of values); a batch id never is
one, or every batch would be a metric of its own.
"""

from __future__ import annotations

from typing import Any

_PER_TABLE = [["step", "table"]]
_PER_STEP = [["step"]]
_TIMED = {"rows": "Count", "seconds": "Seconds", "rows_per_s": "Count/Second"}
# event -> (dimension sets, metric -> unit, fields the event adds: counts of 1)
_METRICS: dict[str, tuple[list[list[str]], dict[str, str], dict[str, int]]] = {
    **{e: (_PER_TABLE, _TIMED, {}) for e in ("table_extracted", "table_transformed")},
    "table_loaded": (_PER_TABLE, _TIMED, {}),
    **{
        e: (_PER_STEP, {**_TIMED, "batches": "Count"}, {"batches": 1})
        for e in ("batch_committed", "batch_transformed", "batch_loaded")
    },
    "freshness": ([[]], {"batches_pending": "Count", "lag_seconds": "Seconds"}, {}),
    "failed": ([["command"]], {"failures": "Count"}, {"failures": 1}),
    "report_not_published": (
        [[]],
        {"dashboard_unpublished": "Count"},
        {"dashboard_unpublished": 1},
    ),
    "report_published": ([[]], {"dashboard_unpublished": "Count"}, {"dashboard_unpublished": 0}),
}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def embedded_metrics(
    namespace: str, event: str, record: dict[str, Any], timestamp_ms: int
) -> dict[str, Any]:
    """The keys to add to ``record`` (the event's log line) so that CloudWatch makes metrics
    of it: the counts it implies and the ``_aws`` block; nothing for an event that has no
    metrics, or without a namespace, or when a dimension is missing."""
    spec = _METRICS.get(event) or _METRICS.get(str(record.get("kind", "")))
    if not namespace or spec is None:
        return {}
    dimension_sets, units, counts = spec
    values = {**record, **counts}
    if any(not isinstance(values.get(d), str) for ds in dimension_sets for d in ds):
        return {}
    metrics = [
        {"Name": name, "Unit": unit} for name, unit in units.items() if _is_number(values.get(name))
    ]
    if not metrics:
        return {}
    directive = {"Namespace": namespace, "Dimensions": dimension_sets, "Metrics": metrics}
    return {**counts, "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]}}


METRIC_NAMES = frozenset(name for _, units, _ in _METRICS.values() for name in units)
