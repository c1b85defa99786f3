"""What the report shows, read from the warehouse in one snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ainsdale_etl.ops.report.queries import Period, latest_batch, run_query, warehouse_ready

if TYPE_CHECKING:
    import polars as pl

    from ainsdale_etl.adapters.postgres import Database

INDEX = "index.html"
STATE = "report.json"  # what the report was built from: the next one says what changed since
QUERIES = (
    "headline", "sales_span", "sales_by_month", "designs_by_month", "places_by_month",
    "counterparties_by_month", "cash_by_month", "top_designs", "sales_by_city",
    "top_counterparties", "top_staff",
)  # fmt: skip


@dataclass(frozen=True)
class CurrencyHeadline:
    """The headline figures of one currency (amounts exact, in that currency)."""

    currency_code: str
    orders: int
    units: int
    total_value: Decimal
    average_order_value: Decimal


@dataclass(frozen=True)
class ReportResult:
    index: Path
    charts: list[Path]  # the PNG exports, one per chart and currency (only when asked)
    headline: list[CurrencyHeadline]
    as_of: tuple[str, datetime] | None  # (batch id, loaded at) of the latest loaded batch
    warnings: tuple[str, ...] = ()  # charts left out because they could not be drawn

    @property
    def folder(self) -> Path:
        return self.index.parent


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, as read from the warehouse."""

    period: Period
    as_of: tuple[str, datetime] | None
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)

    @property
    def has_sales(self) -> bool:
        return "headline" in self.frames and not self.frames["headline"].is_empty()

    @property
    def headline(self) -> list[CurrencyHeadline]:
        if not self.has_sales:
            return []
        rows = self.frames["headline"].rename({"value": "total_value"}).to_dicts()
        return [CurrencyHeadline(**row) for row in rows]


@dataclass(frozen=True)
class Chart:
    """One chart: its Vega-Lite spec (altair) for the page and, the same spec, for a PNG."""

    name: str  # file stem of its PNGs
    title: str
    chart: Any  # an altair chart, drawn on the page and exported as PNG alike


def read_report_data(warehouse: Database, period: Period) -> ReportData:
    """Run every report query in one read-only snapshot, so the figures agree with each other."""
    with warehouse.connect() as conn, conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # Every wait has a deadline: a warehouse that stops answering (a lock, a disk gone
        # slow) fails the report, and the refresh after a run only warns of it.
        cur.execute("SET LOCAL statement_timeout = '120s'")
        if not warehouse_ready(cur):
            return ReportData(period, None)
        frames = {name: run_query(cur, name, period) for name in QUERIES}
        return ReportData(period, latest_batch(cur), frames)
