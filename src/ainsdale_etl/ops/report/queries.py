"""The report's analysis queries: all its SQL, in one place, each returning a polars DataFrame.

Facts keep history, so every query reads the *current version* of each order or payment, as
the warehouse records it (the ``<fact>_current`` views: the version its source committed last,
by batch, never by ``last_updated``; deleted orders left out).
Money is summed in SQL as numeric and travels as text into ``pl.Decimal``: never through float.
The optional period (``$1``/``$2``, inclusive, either may be NULL) filters on the created date.
No identifier is built at run time: the statements are constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl
    from adbc_driver_postgresql.dbapi import Cursor

TOP_N = 10
MONEY_DTYPE_SCALE = 2

_IN_PERIOD = (
    "($1::date IS NULL OR created_date >= $1::date)"
    " AND ($2::date IS NULL OR created_date <= $2::date)"
)

# The current version of every order / payment created in the period (CTEs to follow a WITH).
_SALES = f"""
sales AS (
    SELECT f.*, units_sold * unit_price AS value
    FROM fact_sales_order_current f
    WHERE {_IN_PERIOD}
)"""

_PAYMENTS = f"""
payments AS (
    SELECT * FROM fact_payment_current WHERE {_IN_PERIOD}
)"""


def _ranked(label: str, joins: str, group: str) -> str:
    """Top-N per currency of the sales grouped by ``group`` (all arguments are constants)."""
    return f"""WITH {_SALES}
SELECT currency_code, rank, label, orders, units, value::text AS value FROM (
    SELECT c.currency_code, {label} AS label, count(*) AS orders,
           sum(s.units_sold) AS units, sum(s.value) AS value,
           row_number() OVER (PARTITION BY c.currency_code
                              ORDER BY sum(s.value) DESC, {label}) AS rank
    FROM sales s
    JOIN dim_currency c USING (currency_id)
    {joins}
    GROUP BY c.currency_code, {group}
) ranked
WHERE rank <= {TOP_N}
ORDER BY currency_code, rank
"""


def _by_month(columns: str, joins: str, group: str) -> str:
    """Sales per month, currency and ``group`` (constants): the rows a dashboard chart sums
    within the months a reader brushes, so every chart agrees with the monthly series."""
    return f"""WITH {_SALES}
SELECT date_trunc('month', s.created_date)::date AS month, c.currency_code, {columns},
       count(*) AS orders, sum(s.units_sold) AS units, sum(s.value)::text AS value
FROM sales s
JOIN dim_currency c USING (currency_id)
{joins}
GROUP BY 1, c.currency_code, {group}
ORDER BY 1, c.currency_code, {group}
"""


_DESIGN_LABEL = "d.design_name || ' (#' || d.design_id || ')'"  # real designs share names
_COUNTRY_JOIN = "JOIN dim_location l ON l.location_id = s.agreed_delivery_location_id"

SQL: dict[str, str] = {
    "has_warehouse": """
SELECT to_regclass('public.fact_sales_order_current') IS NOT NULL
   AND to_regclass('ainsdale_meta.loaded_batch') IS NOT NULL AS ready
""",
    # The newest batch, not the latest load: reloading an old batch (a repair) must not make
    # the report "as of" it, nor overwrite that batch's published report.
    "latest_batch": """
SELECT batch_id, loaded_at FROM ainsdale_meta.loaded_batch
ORDER BY batch_id DESC LIMIT 1
""",
    "headline": f"""WITH {_SALES}
SELECT c.currency_code, count(*) AS orders, sum(s.units_sold) AS units,
       sum(s.value)::text AS value, round(sum(s.value) / count(*), 2)::text AS average_order_value
FROM sales s JOIN dim_currency c USING (currency_id)
GROUP BY c.currency_code ORDER BY c.currency_code
""",
    "sales_span": f"""WITH {_SALES}
SELECT min(created_date) AS first_day, max(created_date) AS last_day FROM sales
""",
    "sales_by_month": f"""WITH {_SALES}
SELECT date_trunc('month', s.created_date)::date AS month, c.currency_code,
       count(*) AS orders, sum(s.units_sold) AS units, sum(s.value)::text AS value
FROM sales s JOIN dim_currency c USING (currency_id)
GROUP BY 1, 2 ORDER BY 1, 2
""",
    # The id too: the comparison with the previous report follows a design through a rename.
    "designs_by_month": _by_month(
        f"d.design_id, {_DESIGN_LABEL} AS label",
        "JOIN dim_design d USING (design_id)",
        "d.design_id",
    ),
    "places_by_month": _by_month("l.country, l.city", _COUNTRY_JOIN, "l.country, l.city"),
    "counterparties_by_month": _by_month(
        "p.counterparty_legal_name AS label",
        "JOIN dim_counterparty p USING (counterparty_id)",
        "p.counterparty_id",
    ),
    "top_designs": _ranked(
        _DESIGN_LABEL, "JOIN dim_design d USING (design_id)", "d.design_id, d.design_name"
    ),
    "top_counterparties": _ranked(
        "p.counterparty_legal_name",
        "JOIN dim_counterparty p USING (counterparty_id)",
        "p.counterparty_id, p.counterparty_legal_name",
    ),
    "top_staff": _ranked(
        "st.first_name || ' ' || st.last_name || ' (' || st.department_name || ')'",
        "JOIN dim_staff st ON st.staff_id = s.sales_staff_id",
        "st.staff_id, st.first_name, st.last_name, st.department_name",
    ),
    "sales_by_city": _ranked("l.city || ', ' || l.country", _COUNTRY_JOIN, "l.country, l.city"),
    # Money in (receipts for sales) and money out (payments to suppliers for purchases) are
    # different things: the transaction's type keeps them apart.
    "cash_by_month": f"""WITH {_PAYMENTS}
SELECT date_trunc('month', p.created_date)::date AS month, c.currency_code,
       t.transaction_type, p.paid, count(*) AS payments, sum(p.payment_amount)::text AS value
FROM payments p
JOIN dim_currency c USING (currency_id)
JOIN dim_transaction t USING (transaction_id)
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
""",
}

# Columns that carry money as exact text from SQL, to become pl.Decimal.
MONEY_COLUMNS = frozenset({"value", "average_order_value"})


@dataclass(frozen=True)
class Period:
    """An inclusive date range; either end may be open."""

    date_from: date | None = None
    date_to: date | None = None

    @property
    def params(self) -> list[Any]:
        return [self.date_from, self.date_to]


def run_query(cur: Cursor, name: str, period: Period) -> pl.DataFrame:
    """Run one named query of :data:`SQL` for ``period``; money columns come back as Decimal."""
    import polars as pl

    from ainsdale_etl.adapters.postgres import fetch_arrow

    sql = SQL[name]
    params = period.params if "$1" in sql else None
    frame = pl.DataFrame(fetch_arrow(cur, sql, params))
    money = [c for c in frame.columns if c in MONEY_COLUMNS]
    return frame.with_columns(pl.col(money).cast(pl.Decimal(38, MONEY_DTYPE_SCALE)))


def warehouse_ready(cur: Cursor) -> bool:
    """Whether the warehouse tables exist at all (a fresh database has none)."""
    return bool(run_query(cur, "has_warehouse", Period()).item())


def latest_batch(cur: Cursor) -> tuple[str, datetime] | None:
    """The batch id and load time of the most recently loaded batch, if any."""
    frame = run_query(cur, "latest_batch", Period())
    if frame.is_empty():
        return None
    return frame.item(0, "batch_id"), frame.item(0, "loaded_at")
