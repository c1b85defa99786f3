"""The report's story: which charts it draws, and what each shows, in numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from ainsdale_etl.ops.report.data import Chart, ReportData
from ainsdale_etl.ops.report.queries import TOP_N

if TYPE_CHECKING:
    from collections.abc import Callable

    import polars as pl


def money(value: Decimal, currency: str) -> str:
    return f"{currency} {value:,.2f}"


def day_text(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def _month(value: date) -> str:
    return f"{value:%B %Y}"


def _per_currency(frame: pl.DataFrame, describe: Callable[[str, pl.DataFrame], str]) -> str:
    """``describe(currency, rows)`` for each currency, as one sentence each."""
    groups = frame.partition_by("currency_code", as_dict=True, maintain_order=True)
    return " ".join(
        f"{currency}: {describe(currency, groups[(currency,)])}."
        for currency in sorted(frame["currency_code"].unique().to_list())
    )


def _leader(currency: str, rows: pl.DataFrame) -> str:
    top = rows.row(0, named=True)
    return f"{top['label']} leads with {money(top['value'], currency)}"


def _best_month(currency: str, rows: pl.DataFrame) -> str:
    top = rows.sort("value", descending=True).row(0, named=True)
    return f"best month {_month(top['month'])} with {money(top['value'], currency)}"


def _totals(currency: str, rows: pl.DataFrame) -> str:
    return (
        f"sales {money(Decimal(rows['sales'].sum()), currency)}, "
        f"purchases {money(Decimal(rows['purchases'].sum()), currency)}"
    )


def _paid(currency: str, rows: pl.DataFrame) -> str:
    row = rows.row(0, named=True)
    return (
        f"paid {money(row['paid'], currency)} ({row['paid_count']:,} payments), "
        f"outstanding {money(row['outstanding'], currency)} ({row['outstanding_count']:,} payments)"
    )


def _span(frame: pl.DataFrame) -> str:
    return f"from {_month(frame['month'].min())} to {_month(frame['month'].max())}"  # type: ignore[arg-type]


def build_charts(data: ReportData) -> list[Chart]:
    """The report's charts, described in words; sections without data get no chart."""
    import polars as pl

    from ainsdale_etl.ops.report.charts import (
        OUTSTANDING_COLOUR,
        PAID_COLOUR,
        PURCHASES_COLOUR,
        SALES_COLOUR,
        monthly_bars,
        ranked_bars,
    )

    if not data.has_sales:
        return []
    f = data.frames
    each = "one panel per currency,"
    monthly = f["sales_by_month"]
    charts = [
        Chart(
            "sales_by_month",
            monthly_bars(monthly, "Sales value by month", {"value": ("Sales", SALES_COLOUR)}),
            f"Bar chart, {each} of sales value by month {_span(monthly)}.",
            _per_currency(monthly, _best_month),
        )
    ]
    for name, title in (
        ("top_designs", f"Top {TOP_N} designs by sales value"),
        ("sales_by_country", "Sales value by delivery country"),
        ("top_counterparties", f"Top {TOP_N} counterparties by sales value"),
        ("sales_by_department", "Sales value by the salesperson's department"),
    ):
        description = f"Bar chart, {each} of {title[0].lower()}{title[1:]}."
        chart = ranked_bars(f[name], title, "Sales value")
        charts.append(Chart(name, chart, description, _per_currency(f[name], _leader)))
    versus = f["purchases_vs_sales_by_month"]
    if versus["purchase_orders"].sum() > 0:
        series = {"sales": ("Sales", SALES_COLOUR), "purchases": ("Purchases", PURCHASES_COLOUR)}
        chart = monthly_bars(versus, "Purchases vs sales by month", series)
        description = f"Bar chart, {each} of sales and purchases by month {_span(versus)}."
        charts.append(
            Chart("purchases_vs_sales", chart, description, _per_currency(versus, _totals))
        )
    payments = f["payments_status"]
    if not payments.is_empty():
        bars = pl.concat(
            payments.select(
                "currency_code", pl.lit(label).alias("label"), pl.col(column).alias("value")
            )
            for label, column in (("Paid", "paid"), ("Outstanding", "outstanding"))
        ).sort("currency_code", maintain_order=True)
        chart = ranked_bars(
            bars, "Payments: paid vs outstanding", "Amount", [PAID_COLOUR, OUTSTANDING_COLOUR]
        )
        description = f"Bar chart, {each} of the amounts paid and outstanding."
        charts.append(Chart("payments", chart, description, _per_currency(payments, _paid)))
    return charts
