"""Each star table's rows as SQL: built from totesys as the transform builds them, and as the
warehouse holds them, column for column in the star's types.

The source side restates, in SQL, the transform's pure functions (transform/star/): facts split
each timestamp into its date and time (``timestamp(3)``: milliseconds, as the transform reads
them) and parse the text dates; ``dim_staff`` is staff with its department, ``dim_counterparty``
a counterparty with its legal address, where a part not there gives the placeholder text as in
:func:`~ainsdale_etl.transform.star.dimensions.build_dim_staff`; ``dim_currency`` names the
upper-cased code by ISO 4217 (pycountry's table, bound as two arrays), or by itself; enums are
their text; nothing is trimmed or re-cased beyond that. Every expression is cast to the
warehouse column's type, so both sides hash the same values (:mod:`.verify_hashes`).

The warehouse side reads the current version of each fact (``<fact>_current``) and every
dimension row but those with checks of their own: rows kept for history (deleted in totesys,
still referenced) and placeholders waiting for their rows (the caller finds them: see
ops/verify.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any

from ainsdale_etl.core.registry import (
    DATE,
    INT,
    PLACEHOLDER_TEXT,
    SOURCE_TABLES,
    STAR_TABLES,
    Kind,
    StarTable,
    quote_ident,
)
from ainsdale_etl.load.ddl import current_version, current_view
from ainsdale_etl.ops.verify_hashes import key_code_sql


@dataclass(frozen=True)
class Side:
    """One side's rows of a star table: ``FROM ... WHERE ...`` (ending in a condition, so more
    can be ANDed), each column's typed SQL expression, the key's integer, bound parameters."""

    table: StarTable
    select_from: str
    columns: list[tuple[str, str]]  # (SQL expression, star type), in the star's order
    key: str
    params: list[Any] = field(default_factory=list)
    money: tuple[str, str] | None = None  # a fact's (currency id, amount), summed per currency
    row_key: str = ""  # the integer naming a row, where ``key`` (its block's) does not

    @property
    def names(self) -> list[str]:
        return self.table.column_names

    @property
    def row(self) -> str:
        return self.row_key or self.key


# the star tables built from the source: all but dim_date, which is its calendar's
SOURCED_TABLES: list[StarTable] = [t for t in STAR_TABLES.values() if t.sources]

# fact -> the columns whose product is its money (the same names in its source table)
MONEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "fact_sales_order": ("units_sold", "unit_price"),
    "fact_purchase_order": ("item_quantity", "item_unit_price"),
    "fact_payment": ("payment_amount",),
}


def amount_sql(fact: str, alias: str = "") -> str:
    """A fact's money in SQL, over the fact or its source table (``alias``: 'w.' or '')."""
    return " * ".join(f"{alias}{quote_ident(c)}" for c in MONEY_COLUMNS[fact])


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _typed(expr: str, sql_type: str) -> str:
    return f"({expr})::{sql_type}"


# star column -> its source expression, where it is not the same-named source column
_SPLIT = {
    "created_date": '"created_at"::date',
    "created_time": '"created_at"::time',
    "last_updated_date": '"last_updated"::date',
    "last_updated_time": '"last_updated"::time',
}
_FACT_RENAMES = {("fact_sales_order", "sales_staff_id"): '"staff_id"'}


def _fact_source(table: StarTable) -> Side:
    source = SOURCE_TABLES[table.sources[0]]
    kinds = {c.name: c.kind for c in source.columns}
    columns = []
    for column in table.columns:
        expr = _SPLIT.get(column.name) or _FACT_RENAMES.get((table.name, column.name))
        if expr is None:
            expr = quote_ident(column.name)
            if kinds[column.name] is Kind.DATE_TEXT:
                expr += "::date"  # the transform accepts 'YYYY-MM-DD' only: ISO, as PostgreSQL
        columns.append((_typed(expr, column.sql_type), column.sql_type))
    return Side(
        table,
        f"FROM {quote_ident(source.name)} WHERE true",
        columns,
        quote_ident(source.id_column),
        money=('"currency_id"', amount_sql(table.name)),
    )


def _dimension_source(table: StarTable, currency_names: list[tuple[str, str]]) -> Side:
    unknown = _literal(PLACEHOLDER_TEXT)
    params: list[Any] = []
    if table.name == "dim_staff":
        select_from = 'FROM "staff" s LEFT JOIN "department" d USING ("department_id") WHERE true'
        exprs = {
            "department_name": f'coalesce(d."department_name", {unknown})',
            "location": 'd."location"',
        }
        key, alias = 's."staff_id"', "s"
    elif table.name == "dim_counterparty":
        select_from = (
            'FROM "counterparty" c LEFT JOIN "address" a ON a."address_id" = c."legal_address_id" '
            "WHERE true"
        )
        exprs = {}
        for column in table.columns[2:]:
            part = column.name.removeprefix("counterparty_legal_").replace("phone_number", "phone")
            found = f"a.{quote_ident(part)}"
            exprs[column.name] = found if column.nullable else f"coalesce({found}, {unknown})"
        key, alias = 'c."counterparty_id"', "c"
    elif table.name == "dim_currency":
        params = [[code for code, _ in currency_names], [name for _, name in currency_names]]
        select_from = (
            'FROM "currency" c LEFT JOIN unnest($1::text[], $2::text[]) AS iso(code, name) '
            'ON iso.code = upper(c."currency_code") WHERE true'
        )
        exprs = {
            "currency_code": 'upper(c."currency_code")',
            "currency_name": 'coalesce(iso.name, upper(c."currency_code"))',
        }
        key, alias = 'c."currency_id"', "c"
    else:
        source = SOURCE_TABLES[table.sources[0]]
        select_from = f"FROM {quote_ident(source.name)} t WHERE true"
        key, alias = f"t.{quote_ident(source.id_column)}", "t"
        exprs = {table.key[0]: key}  # dim_location's location_id is address_id
    columns = [
        (
            _typed(exprs.get(c.name, f"{alias}.{quote_ident(c.name)}"), c.sql_type),
            c.sql_type,
        )
        for c in table.columns
    ]
    # enums (payment_type_name, transaction_type) become their text through the cast above
    return Side(table, select_from, columns, key, params)


def iso_currency_names() -> list[tuple[str, str]]:
    """(code, name) of ISO 4217, as dim_currency names them."""
    from ainsdale_etl.transform.star.dimensions import iso_4217_names

    return list(iso_4217_names().iter_rows())


def source_side(table: StarTable, currency_names: list[tuple[str, str]]) -> Side:
    """``table``'s rows as the transform would build them from totesys as it is now (facts:
    the current version of each id, which is each source row)."""
    return _fact_source(table) if table.is_fact else _dimension_source(table, currency_names)


def warehouse_side(table: StarTable, aside: Collection[int] = ()) -> Side:
    """``table``'s rows in the warehouse that the source must match (see the module's doc);
    a dimension's ``aside``: the ids with checks of their own (kept, placeholders), few, so
    bound as an array rather than two anti-joins of every row (1.2 s of dim_transaction's
    1.9 s at scale 100)."""
    columns = [(f"w.{quote_ident(c.name)}", c.sql_type) for c in table.columns]
    key = f"w.{quote_ident(table.key[0])}"
    if table.is_fact:
        money = ('w."currency_id"', amount_sql(table.name, "w."))
        return Side(table, f"FROM {current_view(table)} w WHERE true", columns, key, money=money)
    if not aside:
        return Side(table, f"FROM {quote_ident(table.name)} w WHERE true", columns, key)
    return Side(
        table,
        f"FROM {quote_ident(table.name)} w WHERE NOT ({key} = ANY($1::integer[]))",
        columns,
        key,
        params=[sorted(aside)],
    )


def lake_copy_side(table: StarTable) -> Side:
    """Every row of ``table`` in the warehouse, as the lake copies it. A fact's every version
    is named by its surrogate key, hashed after its other columns, and summed in the block of
    its id, as the source's row is: its ``r`` is then its current version's ``r`` plus one
    term, and one scan of the fact gives both comparisons their blocks (:func:`shared_scan`)."""
    columns = [(f"w.{quote_ident(c.name)}", c.sql_type) for c in table.columns]
    key_column = table.columns[0]
    key = key_code_sql(f"w.{quote_ident(key_column.name)}", key_column.sql_type)
    row_key = ""
    if table.surrogate_key:
        row_key = f"w.{quote_ident(table.surrogate_key)}"
        columns.append((row_key, INT))
    money = ('w."currency_id"', amount_sql(table.name, "w.")) if table.is_fact else None
    return Side(
        table,
        f"FROM {quote_ident(table.name)} w WHERE true",
        columns,
        key,
        money=money,
        row_key=row_key,
    )


@dataclass(frozen=True)
class SharedScan:
    """One scan of a warehouse table for both comparisons: ``every`` is the lake's side (its
    columns, a fact's surrogate key last), and the rows where ``current`` holds, hashed
    without that key, are the source's (:func:`warehouse_side`'s rows)."""

    every: Side
    current: str  # SQL condition over ``every``'s FROM

    @property
    def shared_columns(self) -> list[tuple[str, str]]:
        """The columns both sides hash, in the same positions."""
        return self.every.columns[: len(self.every.table.columns)]

    @property
    def lake_only(self) -> list[tuple[str, str]]:
        """The columns only the lake's side hashes (a fact's surrogate key), after those."""
        return self.every.columns[len(self.every.table.columns) :]


def shared_scan(table: StarTable, aside: Collection[int] = ()) -> SharedScan:
    """``table`` in the warehouse for both comparisons (see :class:`SharedScan`): a fact joined
    to its ids' row_version to know its current versions, as its ``_current`` view is; a
    dimension's rows but ``aside``."""
    every = lake_copy_side(table)
    if table.is_fact:
        join, current = current_version(table, "w")
        select_from = f"FROM {quote_ident(table.name)} w {join} WHERE true"
        return SharedScan(replace(every, select_from=select_from), current)
    if not aside:
        return SharedScan(every, "true")
    return SharedScan(
        replace(every, params=[sorted(aside)]), f"NOT ({every.key} = ANY($1::integer[]))"
    )


def calendar_differences_sql() -> str:
    """dim_date's rows whose columns are not the calendar of their date_id (as
    :func:`~ainsdale_etl.transform.star.calendar.build_dim_date` computes it: ISO day of week,
    English names whatever the server's locale), each with the columns that differ, and how
    many rows differ in all; the first three by date."""
    days = ", ".join(
        _literal(d)
        for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    )
    months = ", ".join(
        _literal(m)
        for m in (
            "January", "February", "March", "April", "May", "June", "July", "August",
            "September", "October", "November", "December",
        )
    )  # fmt: skip
    expected = {
        "year": "extract(year FROM date_id)::integer",
        "month": "extract(month FROM date_id)::integer",
        "day": "extract(day FROM date_id)::integer",
        "day_of_week": "extract(isodow FROM date_id)::integer",
        "day_name": f"(ARRAY[{days}])[extract(isodow FROM date_id)::integer]",
        "month_name": f"(ARRAY[{months}])[extract(month FROM date_id)::integer]",
        "quarter": "extract(quarter FROM date_id)::integer",
    }
    calendar = STAR_TABLES["dim_date"]
    assert [c.name for c in calendar.columns[1:]] == list(expected), "dim_date changed"
    assert calendar.columns[0].sql_type == DATE
    flags = ", ".join(
        f"{quote_ident(name)}::text IS DISTINCT FROM ({sql})::text AS {quote_ident(name)}"
        for name, sql in expected.items()
    )
    differs = " OR ".join(
        f"{quote_ident(name)}::text IS DISTINCT FROM ({sql})::text"
        for name, sql in expected.items()
    )
    return (
        f"SELECT date_id::text AS id, count(*) OVER () AS n, {flags} FROM dim_date "
        f"WHERE {differs} ORDER BY date_id LIMIT 3"
    )
