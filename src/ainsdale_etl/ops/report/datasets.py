"""The dashboard's data: what the warehouse returned, as JSON rows with money exact.

Every row carries its amount twice: ``value``, the exact decimal string (for tooltips, the
headline cards and the tests that check the page to the penny), and ``cents``, the same amount
as a whole number, which the browser adds up exactly (a double holds every integer up to 2**53:
90 trillion in any currency). A month travels as the epoch milliseconds of its first day (UTC)
with ``month_end`` (the next month's first day), which Vega-Lite reads as time and the page's
script compares, and ``month_label`` for people.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ainsdale_etl.ops.report.labels import short_label
from ainsdale_etl.ops.report.text import day_text

if TYPE_CHECKING:
    import polars as pl

    from ainsdale_etl.ops.report.data import ReportData

# The transaction a payment settles says which way the money goes.
DIRECTIONS = {"SALE": "Receipts from customers", "PURCHASE": "Payments to suppliers"}
STATUSES = {True: "Paid", False: "Outstanding"}
# Text drawn on an axis: each row carries it shortened too (see labels.py), as <key>_short.
SHORTENED = ("label", "city", "country")
DATASETS = ("monthly", "designs", "places", "counterparties", "cash")
_SOURCES = {
    "monthly": "sales_by_month",
    "designs": "designs_by_month",
    "places": "places_by_month",
    "counterparties": "counterparties_by_month",
    "cash": "cash_by_month",
}


def month_ms(month: date) -> int:
    """Epoch milliseconds of the first day of ``month``, UTC."""
    return int(datetime(month.year, month.month, 1, tzinfo=UTC).timestamp()) * 1000


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def to_cents(value: Decimal) -> int:
    """An amount of two decimals as a whole number of cents, exactly."""
    return int(value.scaleb(2).to_integral_exact())


def partial_months(first_day: date, last_day: date) -> dict[date, str]:
    """The months the data covers only in part, each with a note of how far it goes: the last
    month looks like a collapse in sales unless it says it is not over."""
    first_month, last_month = first_day.replace(day=1), last_day.replace(day=1)
    starts_late = first_day > first_month
    ends_early = last_day < next_month(last_month) - timedelta(days=1)
    if first_month == last_month:
        if starts_late or ends_early:
            return {first_month: f"data from {day_text(first_day)} to {day_text(last_day)}"}
        return {}
    notes = {}
    if starts_late:
        notes[first_month] = f"data from {day_text(first_day)}"
    if ends_early:
        notes[last_month] = f"data to {day_text(last_day)}"
    return notes


def json_rows(frame: pl.DataFrame, partial: dict[date, str]) -> list[dict[str, Any]]:
    """``frame``'s rows for the page: months as time, money as exact text and whole cents."""
    rows = []
    for row in frame.iter_rows(named=True):
        out: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, Decimal):
                out[key], out["cents"] = f"{value:.2f}", to_cents(value)
            elif isinstance(value, date):
                out[key], out[f"{key}_end"] = month_ms(value), month_ms(next_month(value))
                out[f"{key}_label"] = f"{value:%B %Y}"
                out["partial"] = partial.get(value, "")
            elif key == "transaction_type":
                out["direction"] = DIRECTIONS.get(value, str(value).title())
            elif key == "paid":
                out["status"] = STATUSES[bool(value)]
            else:
                out[key] = value
                if key in SHORTENED and isinstance(value, str):
                    out[f"{key}_short"] = short_label(value)
        rows.append(out)
    return rows


def default_currency(data: ReportData) -> str:
    """The currency the page opens on: the one with the most orders (ties: alphabetical)."""
    return min(data.headline, key=lambda h: (-h.orders, h.currency_code)).currency_code


def dashboard_data(data: ReportData) -> dict[str, Any]:
    """Every dataset the page's charts and cards read, with the currencies and the default."""
    span = data.frames["sales_span"].row(0, named=True)
    partial = partial_months(span["first_day"], span["last_day"])
    datasets: dict[str, Any] = {
        name: json_rows(data.frames[source], partial) for name, source in _SOURCES.items()
    }
    datasets["currencies"] = [h.currency_code for h in data.headline]
    datasets["default_currency"] = default_currency(data)
    return datasets
