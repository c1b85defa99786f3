"""The report's words for money, days and periods: one way of writing each."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from ainsdale_etl.ops.report.queries import Period


def money(value: Decimal, currency: str) -> str:
    """``GBP 1,234.50``: exact, in the amount's own currency."""
    return f"{currency} {value:,.2f}"


def day_text(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def period_text(period: Period) -> str:
    if period.date_from and period.date_to:
        return f"orders created from {day_text(period.date_from)} to {day_text(period.date_to)}"
    if period.date_from:
        return f"orders created on or after {day_text(period.date_from)}"
    if period.date_to:
        return f"orders created on or before {day_text(period.date_to)}"
    return "all orders in the warehouse"


def loaded_text(loaded_at: datetime) -> str:
    when = loaded_at.astimezone(UTC)
    return f"{day_text(when)} at {when:%H:%M} UTC"
