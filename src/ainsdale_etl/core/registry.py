"""The schema registry: every table and column the pipeline touches, declared once.

Source tables mirror ``ops/sql/totesys.sql``; star tables mirror ``shared/spec/warehouse.md``.
Every SQL identifier the pipeline emits comes from here (see :func:`quote_ident`), so nothing
user-supplied ever reaches a statement as an identifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The version of the schema this registry declares. Bump it with every change to a table or
# column, and ship a migration of the same number (load/migrations/): the warehouse records
# the version it is at, and manifests and Parquet objects the version that wrote them.
SCHEMA_VERSION = 6
# A joined dimension's row in a batch's Parquet: the newest batch its source rows came from,
# the version the load orders it by (load/versions.py). Not a warehouse column.
SOURCE_VERSION = "_source_batch"


class Kind(StrEnum):
    """How a source column is stored in totesys and written to CSV."""

    INT = "int"
    TEXT = "text"
    MONEY = "money"  # numeric(10,2): travels as its exact decimal text, never a float
    TIMESTAMP = "timestamp"  # timestamp(3), naive, millisecond precision
    DATE_TEXT = "date_text"  # a 'YYYY-MM-DD' date stored as text
    ENUM = "enum"
    BOOL = "bool"


@dataclass(frozen=True)
class SourceColumn:
    name: str
    kind: Kind
    nullable: bool = False


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: tuple[SourceColumn, ...]

    @property
    def id_column(self) -> str:
        return f"{self.name}_id"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _src(name: str, *columns: tuple[str, Kind] | tuple[str, Kind, bool]) -> SourceTable:
    cols = tuple(SourceColumn(c[0], c[1], len(c) > 2 and bool(c[2])) for c in columns)
    return SourceTable(name, cols)


N, T, M, TS, DT, E, B = (
    Kind.INT,
    Kind.TEXT,
    Kind.MONEY,
    Kind.TIMESTAMP,
    Kind.DATE_TEXT,
    Kind.ENUM,
    Kind.BOOL,
)
NULLABLE = True
_STAMPS: tuple[tuple[str, Kind], ...] = (("created_at", TS), ("last_updated", TS))

SOURCE_TABLES: dict[str, SourceTable] = {
    t.name: t
    for t in (
        _src("address", ("address_id", N), ("address_line_1", T), ("address_line_2", T, NULLABLE),
             ("district", T, NULLABLE), ("city", T), ("postal_code", T), ("country", T),
             ("phone", T), *_STAMPS),
        _src("counterparty", ("counterparty_id", N), ("counterparty_legal_name", T),
             ("legal_address_id", N), ("commercial_contact", T, NULLABLE),
             ("delivery_contact", T, NULLABLE), *_STAMPS),
        _src("currency", ("currency_id", N), ("currency_code", T), *_STAMPS),
        _src("department", ("department_id", N), ("department_name", T),
             ("location", T, NULLABLE), ("manager", T, NULLABLE), *_STAMPS),
        _src("design", ("design_id", N), ("created_at", TS), ("design_name", T),
             ("file_location", T), ("file_name", T), ("last_updated", TS)),
        _src("staff", ("staff_id", N), ("first_name", T), ("last_name", T), ("department_id", N),
             ("email_address", T), *_STAMPS),
        _src("payment_type", ("payment_type_id", N), ("payment_type_name", E), *_STAMPS),
        _src("sales_order", ("sales_order_id", N), *_STAMPS, ("design_id", N), ("staff_id", N),
             ("counterparty_id", N), ("units_sold", N), ("unit_price", M), ("currency_id", N),
             ("agreed_delivery_date", DT), ("agreed_payment_date", DT),
             ("agreed_delivery_location_id", N)),
        _src("purchase_order", ("purchase_order_id", N), *_STAMPS, ("staff_id", N),
             ("counterparty_id", N), ("item_code", T), ("item_quantity", N),
             ("item_unit_price", M), ("currency_id", N), ("agreed_delivery_date", DT),
             ("agreed_payment_date", DT), ("agreed_delivery_location_id", N)),
        _src("transaction", ("transaction_id", N), ("transaction_type", E),
             ("sales_order_id", N, NULLABLE), ("purchase_order_id", N, NULLABLE), *_STAMPS),
        _src("payment", ("payment_id", N), *_STAMPS, ("transaction_id", N),
             ("counterparty_id", N), ("payment_amount", M), ("currency_id", N),
             ("payment_type_id", N), ("paid", B), ("payment_date", DT),
             ("company_ac_number", N), ("counterparty_ac_number", N)),
    )
}  # fmt: skip

# In the database, but never extracted: the ORM's bookkeeping, not business data.
IGNORED_SOURCE_TABLES = frozenset({"_prisma_migrations"})


@dataclass(frozen=True)
class StarColumn:
    name: str
    sql_type: str
    nullable: bool = False
    references: str | None = None  # the dimension table this column points at


@dataclass(frozen=True)
class StarTable:
    name: str
    columns: tuple[StarColumn, ...]
    key: tuple[str, ...]  # dims: the primary key; facts: the natural key of a version
    sources: tuple[str, ...]  # source tables whose changes can change this table
    surrogate_key: str | None = None  # facts only: assigned by the warehouse
    follows: str | None = None  # a table derived from this star table (history, current)

    @property
    def is_fact(self) -> bool:
        return self.surrogate_key is not None

    @property
    def column_names(self) -> list[str]:
        """The columns the pipeline writes (the surrogate key is the warehouse's)."""
        return [c.name for c in self.columns]

    @property
    def foreign_keys(self) -> list[StarColumn]:
        return [c for c in self.columns if c.references]


def _col(name: str, sql_type: str, *, null: bool = False, ref: str | None = None) -> StarColumn:
    return StarColumn(name, sql_type, null, ref)


# What a dimension row not delivered yet holds in its NOT NULL text columns, until it arrives:
# in the warehouse (load/inferred.py) and in a dimension joined in the transform.
PLACEHOLDER_TEXT = "unknown"

INT, TEXT, MONEY, DATE, TIME, BOOL = (
    "integer",
    "varchar",
    "numeric(10,2)",
    "date",
    "time",
    "boolean",
)
BIGINT, TIMESTAMPTZ = "bigint", "timestamptz"  # a history's surrogate key and interval


def _version_columns() -> tuple[StarColumn, ...]:
    return (
        _col("created_date", DATE, ref="dim_date"),
        _col("created_time", TIME),
        _col("last_updated_date", DATE, ref="dim_date"),
        _col("last_updated_time", TIME),
    )


def _fact(
    name: str, entity: str, surrogate: str, *columns: StarColumn, sources: tuple[str, ...]
) -> StarTable:
    id_col = f"{entity}_id"
    return StarTable(
        name,
        (_col(id_col, INT), *_version_columns(), *columns),
        key=(id_col, "last_updated_date", "last_updated_time"),
        sources=sources,
        surrogate_key=surrogate,
    )


def _dim(name: str, *columns: StarColumn, sources: tuple[str, ...]) -> StarTable:
    return StarTable(name, columns, key=(columns[0].name,), sources=sources)


DIMENSIONS: tuple[StarTable, ...] = (
    _dim("dim_date", _col("date_id", DATE), _col("year", INT), _col("month", INT),
         _col("day", INT), _col("day_of_week", INT), _col("day_name", TEXT),
         _col("month_name", TEXT), _col("quarter", INT), sources=()),
    _dim("dim_staff", _col("staff_id", INT), _col("first_name", TEXT), _col("last_name", TEXT),
         _col("department_name", TEXT), _col("location", TEXT, null=True),
         _col("email_address", TEXT), sources=("staff", "department")),
    _dim("dim_location", _col("location_id", INT), _col("address_line_1", TEXT),
         _col("address_line_2", TEXT, null=True), _col("district", TEXT, null=True),
         _col("city", TEXT), _col("postal_code", TEXT), _col("country", TEXT),
         _col("phone", TEXT), sources=("address",)),
    _dim("dim_design", _col("design_id", INT), _col("design_name", TEXT),
         _col("file_location", TEXT), _col("file_name", TEXT), sources=("design",)),
    _dim("dim_currency", _col("currency_id", INT), _col("currency_code", TEXT),
         _col("currency_name", TEXT), sources=("currency",)),
    _dim("dim_counterparty", _col("counterparty_id", INT), _col("counterparty_legal_name", TEXT),
         _col("counterparty_legal_address_line_1", TEXT),
         _col("counterparty_legal_address_line_2", TEXT, null=True),
         _col("counterparty_legal_district", TEXT, null=True),
         _col("counterparty_legal_city", TEXT), _col("counterparty_legal_postal_code", TEXT),
         _col("counterparty_legal_country", TEXT), _col("counterparty_legal_phone_number", TEXT),
         sources=("counterparty", "address")),
    _dim("dim_payment_type", _col("payment_type_id", INT), _col("payment_type_name", TEXT),
         sources=("payment_type",)),
    _dim("dim_transaction", _col("transaction_id", INT), _col("transaction_type", TEXT),
         _col("sales_order_id", INT, null=True), _col("purchase_order_id", INT, null=True),
         sources=("transaction",)),
)  # fmt: skip

FACTS: tuple[StarTable, ...] = (
    _fact("fact_sales_order", "sales_order", "sales_record_id",
          _col("sales_staff_id", INT, ref="dim_staff"),
          _col("counterparty_id", INT, ref="dim_counterparty"),
          _col("units_sold", INT), _col("unit_price", MONEY),
          _col("currency_id", INT, ref="dim_currency"), _col("design_id", INT, ref="dim_design"),
          _col("agreed_payment_date", DATE, ref="dim_date"),
          _col("agreed_delivery_date", DATE, ref="dim_date"),
          _col("agreed_delivery_location_id", INT, ref="dim_location"),
          sources=("sales_order",)),
    _fact("fact_purchase_order", "purchase_order", "purchase_record_id",
          _col("staff_id", INT, ref="dim_staff"),
          _col("counterparty_id", INT, ref="dim_counterparty"),
          _col("item_code", TEXT), _col("item_quantity", INT), _col("item_unit_price", MONEY),
          _col("currency_id", INT, ref="dim_currency"),
          _col("agreed_delivery_date", DATE, ref="dim_date"),
          _col("agreed_payment_date", DATE, ref="dim_date"),
          _col("agreed_delivery_location_id", INT, ref="dim_location"),
          sources=("purchase_order",)),
    _fact("fact_payment", "payment", "payment_record_id",
          _col("transaction_id", INT, ref="dim_transaction"),
          _col("counterparty_id", INT, ref="dim_counterparty"),
          _col("payment_amount", MONEY), _col("currency_id", INT, ref="dim_currency"),
          _col("payment_type_id", INT, ref="dim_payment_type"), _col("paid", BOOL),
          _col("payment_date", DATE, ref="dim_date"),
          sources=("payment",)),
)  # fmt: skip

# Dimensions first: a load writes them before the facts that point at them.
STAR_TABLES: dict[str, StarTable] = {t.name: t for t in (*DIMENSIONS, *FACTS)}


def _history(dim: StarTable) -> StarTable:
    """``dim``'s type-2 history (load/history.py) as the lake copies it: keyed by id and
    version start; what it owes follows the history's ``changed_at``."""
    version_key = dim.key[0].removesuffix("_id") + "_version_key"
    return StarTable(
        f"{dim.name}_history",
        (
            _col(version_key, BIGINT),
            *dim.columns,
            _col("valid_from", TIMESTAMPTZ),
            _col("valid_to", TIMESTAMPTZ, null=True),
            _col("is_current", BOOL),
        ),
        key=(dim.key[0], "valid_from"),
        sources=(),
        follows=dim.name,
    )


def _current(fact: StarTable) -> StarTable:
    """A fact's current versions (the view ``<fact>_current``, migrations 0005 and 0006) as
    the lake copies it: one row per id, with the batch that recorded it and that batch's time
    (to find the dimension versions valid then), replaced when the id's version changes."""
    return StarTable(
        f"{fact.name}_current",
        (
            _col(fact.surrogate_key or "", INT),
            *fact.columns,
            _col("recorded_batch", TEXT, null=True),
            _col("recorded_at", TIMESTAMPTZ, null=True),
        ),
        key=(fact.key[0],),
        sources=(),
        follows=fact.name,
    )


# Beside the star in the lake: each mirrored dimension's history, each fact's current rows.
DERIVED_TABLES: dict[str, StarTable] = {
    t.name: t
    for t in (
        *(_history(d) for d in DIMENSIONS if d.sources),
        *(_current(f) for f in FACTS),
    )
}
LAKE_TABLES: dict[str, StarTable] = {**STAR_TABLES, **DERIVED_TABLES}


def quote_ident(name: str) -> str:
    """Quote an identifier for SQL, refusing anything the registry does not declare."""
    if name not in _KNOWN_IDENTIFIERS:
        raise ValueError(f"{name!r} is not a table or column in the schema registry")
    return '"' + name + '"'


_KNOWN_IDENTIFIERS: frozenset[str] = frozenset(
    {t.name for t in SOURCE_TABLES.values()}
    | {c.name for t in SOURCE_TABLES.values() for c in t.columns}
    | {t.name for t in STAR_TABLES.values()}
    | {c.name for t in STAR_TABLES.values() for c in t.columns}
    | {t.surrogate_key for t in FACTS if t.surrogate_key}
    | {t.name for t in DERIVED_TABLES.values()}
    | {c.name for t in DERIVED_TABLES.values() for c in t.columns}
)
