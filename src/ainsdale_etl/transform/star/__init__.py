"""The star schema, built from source rows by pure functions of DataFrames.

Facts are built from the rows a batch extracted (every version becomes a fact row). Dimensions
are built from the *current* state of their source tables (see :func:`merge_current`), limited
to the rows a batch affected: a changed address rebuilds its location and every counterparty
whose legal address it is; a changed department rebuilds every staff row in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from functools import lru_cache
from typing import cast

import polars as pl

from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.core.registry import FACTS, SOURCE_TABLES, STAR_TABLES, StarTable

_POLARS_TYPES: dict[str, pl.DataType] = {
    "integer": pl.Int32(),
    "varchar": pl.String(),
    "numeric(10,2)": pl.Decimal(10, 2),
    "date": pl.Date(),
    "time": pl.Time(),
    "boolean": pl.Boolean(),
}


def star_schema(table: StarTable) -> dict[str, pl.DataType]:
    return {c.name: _POLARS_TYPES[c.sql_type] for c in table.columns}


def empty_source(name: str) -> pl.DataFrame:
    from ainsdale_etl.transform.contracts import source_schema

    return pl.DataFrame(schema=source_schema(SOURCE_TABLES[name]))


def conform(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """``frame`` with exactly the columns of star table ``table``, in order, with its types."""
    schema = star_schema(STAR_TABLES[table])
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())


def _split(column: str, prefix: str) -> list[pl.Expr]:
    return [
        pl.col(column).dt.date().alias(f"{prefix}_date"),
        pl.col(column).dt.time().alias(f"{prefix}_time"),
    ]


def _version_columns() -> list[pl.Expr]:
    return [*_split("created_at", "created"), *_split("last_updated", "last_updated")]


def parse_text_dates(frame: pl.DataFrame, table: str, columns: list[str]) -> pl.DataFrame:
    """Text 'YYYY-MM-DD' columns as dates; anything else is an error naming the row."""
    id_column = SOURCE_TABLES[table].id_column
    parsed = frame.with_columns(
        pl.when(pl.col(c).str.contains(r"^\d{4}-\d{2}-\d{2}$"))
        .then(pl.col(c).str.strptime(pl.Date, "%Y-%m-%d", strict=False, cache=False))
        .alias(c)
        for c in columns
    )
    for c in columns:
        if parsed[c].null_count() == frame[c].null_count():  # nothing failed to parse
            continue
        row = frame.filter(parsed[c].is_null() & frame[c].is_not_null()).row(0, named=True)
        raise BadInputError(
            f"{table}: column {c} of row {id_column}={row[id_column]} holds {row[c]!r}, "
            "which is not a YYYY-MM-DD date"
        )
    return parsed


def build_fact_sales_order(sales_order: pl.DataFrame) -> pl.DataFrame:
    dated = parse_text_dates(
        sales_order, "sales_order", ["agreed_payment_date", "agreed_delivery_date"]
    )
    return conform(
        dated.with_columns(*_version_columns(), pl.col("staff_id").alias("sales_staff_id")),
        "fact_sales_order",
    )


def build_fact_purchase_order(purchase_order: pl.DataFrame) -> pl.DataFrame:
    dated = parse_text_dates(
        purchase_order, "purchase_order", ["agreed_delivery_date", "agreed_payment_date"]
    )
    return conform(dated.with_columns(*_version_columns()), "fact_purchase_order")


def build_fact_payment(payment: pl.DataFrame) -> pl.DataFrame:
    dated = parse_text_dates(payment, "payment", ["payment_date"])
    return conform(dated.with_columns(*_version_columns()), "fact_payment")


def build_dim_location(address: pl.DataFrame) -> pl.DataFrame:
    return conform(address.rename({"address_id": "location_id"}), "dim_location")


def build_dim_design(design: pl.DataFrame) -> pl.DataFrame:
    return conform(design, "dim_design")


def build_dim_payment_type(payment_type: pl.DataFrame) -> pl.DataFrame:
    return conform(payment_type, "dim_payment_type")


def build_dim_transaction(transaction: pl.DataFrame) -> pl.DataFrame:
    return conform(transaction, "dim_transaction")


@lru_cache(maxsize=1)
def iso_4217_names() -> pl.DataFrame:
    """ISO 4217 alphabetic codes and their names, from pycountry's maintained table."""
    import pycountry

    codes = [(c.alpha_3, c.name) for c in pycountry.currencies]
    return pl.DataFrame(
        codes, schema={"currency_code": pl.String, "currency_name": pl.String}, orient="row"
    )


def build_dim_currency(currency: pl.DataFrame) -> pl.DataFrame:
    named = currency.with_columns(pl.col("currency_code").str.to_uppercase()).join(
        iso_4217_names(), on="currency_code", how="left"
    )
    return conform(named, "dim_currency")


def require_known(
    rows: pl.DataFrame, column: str, known: pl.DataFrame, key: str, what: str
) -> None:
    """Refuse rows whose ``column`` names no ``key`` in ``known``: joining them would drop them
    silently, so a record pointing at one totesys never delivered is bad input, named."""
    orphans = rows.join(known, left_on=column, right_on=key, how="anti")
    if orphans.height:
        first = orphans.row(0, named=True)
        id_column = rows.columns[0]
        raise BadInputError(
            f"{what} {id_column}={first[id_column]} references {column}={first[column]}, "
            f"which no batch has delivered ({orphans.height} such row(s))"
        )


def build_dim_staff(staff: pl.DataFrame, department: pl.DataFrame) -> pl.DataFrame:
    require_known(staff, "department_id", department, "department_id", "staff")
    joined = staff.join(
        department.select("department_id", "department_name", "location"),
        on="department_id",
        how="inner",
    )
    return conform(joined, "dim_staff")


def build_dim_counterparty(counterparty: pl.DataFrame, address: pl.DataFrame) -> pl.DataFrame:
    legal = address.select(
        pl.col("address_id").alias("legal_address_id"),
        *(
            pl.col(c).alias(f"counterparty_legal_{c}")
            for c in (
                "address_line_1",
                "address_line_2",
                "district",
                "city",
                "postal_code",
                "country",
            )
        ),
        pl.col("phone").alias("counterparty_legal_phone_number"),
    )
    require_known(counterparty, "legal_address_id", address, "address_id", "counterparty")
    return conform(counterparty.join(legal, on="legal_address_id", how="inner"), "dim_counterparty")


def build_dim_date(dates: pl.Series) -> pl.DataFrame:
    """A calendar from the earliest to the latest of ``dates`` (empty for no dates)."""
    dates = dates.drop_nulls()
    if dates.is_empty():
        return pl.DataFrame(schema=star_schema(STAR_TABLES["dim_date"]))
    first, last = cast(date, dates.min()), cast(date, dates.max())
    calendar = pl.DataFrame({"date_id": pl.date_range(first, last, "1d", eager=True)})
    d = pl.col("date_id").dt
    return conform(
        calendar.with_columns(
            d.year().alias("year"),
            d.month().alias("month"),
            d.day().alias("day"),
            d.weekday().alias("day_of_week"),  # ISO 8601: Monday = 1 ... Sunday = 7
            d.strftime("%A").alias("day_name"),
            d.strftime("%B").alias("month_name"),
            d.quarter().alias("quarter"),
        ),
        "dim_date",
    )


def merge_current(current: pl.DataFrame, changes: pl.DataFrame, table: str) -> pl.DataFrame:
    """The current state of ``table`` after ``changes``: the latest version of each id.

    Last-writer-wins on ``last_updated``, so merging the same batch twice, or an older batch
    after a newer one, leaves the result unchanged.
    """
    id_column = SOURCE_TABLES[table].id_column
    return (
        pl.concat([current, changes], how="vertical")
        .sort(id_column, "last_updated")
        .unique(id_column, keep="last", maintain_order=True)
    )


# Source tables whose current state a batch's dimensions need beyond its own rows.
JOINED_SOURCES: tuple[str, ...] = tuple(
    sorted({s for t in STAR_TABLES.values() if len(t.sources) > 1 for s in t.sources})
)


def _ids(frame: pl.DataFrame, column: str) -> pl.Series:
    return frame[column].unique()


def _latest(changes: pl.DataFrame, table: str) -> pl.DataFrame:
    return merge_current(changes.clear(), changes, table)


def build_dim_transaction_latest(transaction: pl.DataFrame) -> pl.DataFrame:
    """dim_transaction from a batch's transaction rows: the latest version of each id."""
    return build_dim_transaction(_latest(transaction, "transaction"))


# Star tables built row by row from one source table, so transform can build them a chunk of
# the source at a time. (dim_transaction keeps each id's latest version: chunk by chunk that
# holds only while no id is in two chunks, which transform checks.)
ROW_WISE: dict[str, tuple[str, Callable[[pl.DataFrame], pl.DataFrame]]] = {
    "sales_order": ("fact_sales_order", build_fact_sales_order),
    "purchase_order": ("fact_purchase_order", build_fact_purchase_order),
    "payment": ("fact_payment", build_fact_payment),
    "transaction": ("dim_transaction", build_dim_transaction_latest),
}


def referenced_dates(fact: pl.DataFrame, table: str) -> pl.Series:
    """Every date the rows of fact ``table`` point at in dim_date (with repeats)."""
    columns = [c.name for c in STAR_TABLES[table].columns if c.references == "dim_date"]
    return pl.concat([fact[c] for c in columns]).alias("date")


def build_dimensions(
    changes: Mapping[str, pl.DataFrame], current: Mapping[str, pl.DataFrame]
) -> dict[str, pl.DataFrame]:
    """Every dimension a batch affects but those in :data:`ROW_WISE` and the calendar (which
    follows the facts' dates).

    ``changes`` holds the batch's rows per source table (absent: no rows); ``current`` holds the
    current state (after this batch) of each table in :data:`JOINED_SOURCES`.
    """

    def changed(name: str) -> pl.DataFrame:
        return changes[name] if name in changes else empty_source(name)

    address, staff = changed("address"), changed("staff")
    counterparty, department = changed("counterparty"), changed("department")
    all_staff = current["staff"].filter(
        pl.col("staff_id").is_in(_ids(staff, "staff_id").implode())
        | pl.col("department_id").is_in(_ids(department, "department_id").implode())
    )
    all_counterparties = current["counterparty"].filter(
        pl.col("counterparty_id").is_in(_ids(counterparty, "counterparty_id").implode())
        | pl.col("legal_address_id").is_in(_ids(address, "address_id").implode())
    )
    return {
        "dim_staff": build_dim_staff(all_staff, current["department"]),
        "dim_location": build_dim_location(_latest(address, "address")),
        "dim_design": build_dim_design(_latest(changed("design"), "design")),
        "dim_currency": build_dim_currency(_latest(changed("currency"), "currency")),
        "dim_counterparty": build_dim_counterparty(all_counterparties, current["address"]),
        "dim_payment_type": build_dim_payment_type(
            _latest(changed("payment_type"), "payment_type")
        ),
    }


def build_star(
    changes: Mapping[str, pl.DataFrame], current: Mapping[str, pl.DataFrame]
) -> dict[str, pl.DataFrame]:
    """Every star table a batch affects (see :func:`build_dimensions` for the arguments)."""
    star = build_dimensions(changes, current)
    for source, (name, build) in ROW_WISE.items():
        star[name] = build(changes[source] if source in changes else empty_source(source))
    star["dim_date"] = build_dim_date(
        pl.concat([referenced_dates(star[f.name], f.name) for f in FACTS])
    )
    return {name: star[name] for name in STAR_TABLES}
