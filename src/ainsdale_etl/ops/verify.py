"""Reconcile the warehouse with the source: what an on-call engineer runs after an incident.

Every column of every current star row is compared with the row the transform would build
from the source as it is now: the current version of each fact, every dimension row, and
dim_date with the calendar of its date (:mod:`.verify_content`, by hashes each database
computes: nothing big crosses the wire). Besides, per mart: money per currency over the
current versions matches to the penny and no fact points at a missing dimension row; per
dimension, its row count matches its source table's. Rows deleted in totesys that the
warehouse keeps for history are counted apart, as notes; placeholders waiting for their rows
have a check of their own. History (a fact's older versions) is not compared with the source,
which no longer holds it; the lake's comparison with the warehouse covers it
(:mod:`.verify_lake`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from ainsdale_etl.adapters.postgres import Database, fetch_all
from ainsdale_etl.core.errors import EtlError
from ainsdale_etl.core.events import counted
from ainsdale_etl.core.registry import FACTS, SOURCE_TABLES, STAR_TABLES, StarTable, quote_ident
from ainsdale_etl.load.ddl import INFERRED, LEDGER, ROW_VERSION, current_view
from ainsdale_etl.ops.verify_content import Content, content
from ainsdale_etl.ops.verify_reader import fetch_frame, read_only_snapshot
from ainsdale_etl.ops.verify_star_sql import calendar_differences_sql

if TYPE_CHECKING:
    from ainsdale_etl.ops.verify_shared import SharedWarehouse

# dimension -> the source table whose rows it mirrors one to one
DIMENSION_SOURCES: dict[str, str] = {
    t.name: t.sources[0] for t in STAR_TABLES.values() if not t.is_fact and t.sources
}


@dataclass
class Check:
    """One comparison: a count (int) or money per currency code (exact decimal text) on each
    side; ``detail`` says where they differ, when that is known (the first ids)."""

    mart: str
    name: str
    source: int | dict[str, str]
    warehouse: int | dict[str, str]
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.source == self.warehouse


def shown(value: int | dict[str, str]) -> str:
    """A side of a check for people: 3,120 or 'GBP 1.00, USD 2.00'."""
    if isinstance(value, int):
        return f"{value:,}"
    return ", ".join(f"{code} {total}" for code, total in sorted(value.items())) or "none"


@dataclass
class Verification:
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # true and worth knowing, not differences

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        checks = [asdict(c) | {"ok": c.ok} for c in self.checks]
        return {"ok": self.ok, "checks": checks, "notes": self.notes}


def _meta_rows(wh: Any, table: str, sql: str, schema: dict[str, Any]) -> pl.DataFrame:
    """The rows ``sql`` reads from the ledger-schema ``table``; none (in ``schema``) if the
    warehouse predates that table."""
    if fetch_frame(wh, f"SELECT to_regclass('{table}') IS NULL AS missing")["missing"][0]:
        return pl.DataFrame(schema=schema)
    return fetch_frame(wh, sql)


def _kept_deleted(wh: Any) -> pl.DataFrame:
    """(star_table, id) of the rows deleted in totesys that the warehouse keeps for history:
    a fact's versions, a dimension row facts point at."""
    kept = [
        f"SELECT v.star_table, v.id FROM {ROW_VERSION} v WHERE v.star_table = '{t.name}' "
        "AND v.deleted"
        + (
            ""
            if t.is_fact
            else f" AND EXISTS (SELECT FROM {quote_ident(t.name)} d "
            f"WHERE d.{quote_ident(t.key[0])} = v.id)"
        )
        for t in STAR_TABLES.values()
        if t.sources
    ]
    sql = " UNION ALL ".join(kept)
    return _meta_rows(wh, ROW_VERSION, sql, {"star_table": pl.String, "id": pl.Int32})


def _inferred(wh: Any) -> pl.DataFrame:
    """(star_table, id, batch_id) of the placeholders waiting for their rows."""
    sql = f"SELECT dim AS star_table, id, batch_id FROM {INFERRED} ORDER BY 1, 2"
    schema = {"star_table": pl.String, "id": pl.Int32, "batch_id": pl.String}
    return _meta_rows(wh, INFERRED, sql, schema)


def _source_side(source: Database) -> dict[str, Any]:
    """What verify counts in totesys besides the rows' content."""
    found: dict[str, Any] = {}
    with source.connect() as conn, conn.cursor() as src:
        found["currencies"] = dict(
            fetch_frame(
                src, 'SELECT "currency_id", upper("currency_code") FROM "currency"'
            ).iter_rows()
        )
        for dim_name, table in DIMENSION_SOURCES.items():
            found[f"rows {dim_name}"] = int(
                fetch_frame(src, f"SELECT count(*) AS n FROM {quote_ident(table)}")["n"][0]
            )
        conn.rollback()
    return found


def _orphans(wh: Any, fact: StarTable) -> dict[str, int]:
    """Per foreign key of ``fact``, its older versions pointing at no dimension row: one scan
    of the fact with a hash join per dimension, not one anti-join per key.

    Only older versions: a current version that did would differ from its source row, or
    point at a dimension row that differs from the source's (totesys enforces its foreign
    keys), and the content checks name both; kept and placeholder rows are in the dimension.
    Older versions are not compared with anything else (the source no longer has them), and
    loads bypass the warehouse's foreign keys (load/triggers.py): this is what sees them."""
    joins, counts = [], []
    record, natural = quote_ident(fact.surrogate_key or ""), quote_ident(fact.key[0])
    for index, column in enumerate(fact.foreign_keys):
        dim = STAR_TABLES[column.references or ""]
        key = quote_ident(dim.key[0])
        joins.append(
            f"LEFT JOIN {quote_ident(dim.name)} d{index} "
            f"ON d{index}.{key} = f.{quote_ident(column.name)}"
        )
        counts.append(
            f"count(*) FILTER (WHERE d{index}.{key} IS NULL "
            f"AND f.{quote_ident(column.name)} IS NOT NULL) AS c{index}"
        )
    older = (
        f"JOIN {ROW_VERSION} v ON v.star_table = '{fact.name}' AND v.id = f.{natural} "
        f"AND (v.record_id IS DISTINCT FROM f.{record} OR v.deleted)"
    )
    row = fetch_frame(
        wh,
        f"SELECT {', '.join(counts)} FROM {quote_ident(fact.name)} f {older} {' '.join(joins)}",
    )
    return {c.name: int(row[f"c{i}"][0]) for i, c in enumerate(fact.foreign_keys)}


def _warehouse_side(warehouse: Database, snapshot: str = "") -> dict[str, Any]:
    """What verify reads from the warehouse besides the rows' content; in ``snapshot``, the
    one the content is read in, if there is one (rows set aside, counts and content of the
    same warehouse, whatever a load commits meanwhile)."""
    found: dict[str, Any] = {}
    with warehouse.connect() as conn, conn.cursor() as wh:
        if snapshot:
            read_only_snapshot(wh, snapshot)
        found["kept"] = _kept_deleted(wh)
        found["inferred"] = _inferred(wh)
        found["currencies"] = dict(
            fetch_frame(wh, 'SELECT "currency_id", "currency_code" FROM "dim_currency"').iter_rows()
        )
        for fact in FACTS:
            found[f"orphans {fact.name}"] = _orphans(wh, fact)
        for dim_name in DIMENSION_SOURCES:
            found[f"rows {dim_name}"] = int(
                fetch_frame(wh, f"SELECT count(*) AS n FROM {quote_ident(dim_name)}")["n"][0]
            )
        found["calendar"] = fetch_frame(wh, calendar_differences_sql())
    return found


def _require_tables(db: Database, what: str, tables: list[str], advice: str) -> None:
    """One line instead of a raw ``relation ... does not exist`` halfway through."""
    with db.connect() as conn, conn.cursor() as cur:
        missing = [
            name
            for name, present in fetch_all(
                cur,
                "SELECT name, to_regclass(name) IS NOT NULL FROM unnest($1::text[]) AS name",
                [tables],
            )
            if not present
        ]
        conn.rollback()
    if missing:
        raise EtlError(f"{what} has no table {', '.join(missing[:3])}: {advice}")


def verify(
    source: Database, warehouse: Database, shared: SharedWarehouse | None = None
) -> Verification:
    """Read both sides at once (on two connections; the drivers and polars release the GIL),
    then compare. With ``shared``, the lake's comparison runs beside this one and takes its
    blocks of the warehouse from the same scans (:mod:`.verify_shared`)."""
    _require_tables(
        source, "the source", list(SOURCE_TABLES), "point AINSDALE_SOURCE_URL at totesys"
    )
    _require_tables(
        warehouse,
        "the warehouse",
        [LEDGER, ROW_VERSION, INFERRED, *STAR_TABLES, *(current_view(f) for f in FACTS)],
        "nothing has been loaded yet: run `ainsdale-etl run-all` first",
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        from_source = pool.submit(_source_side, source)
        from_warehouse = pool.submit(_warehouse_side, warehouse, shared.snapshot if shared else "")
        src, wh = from_source.result(), from_warehouse.result()
    aside = pl.concat([wh["kept"], wh["inferred"].drop("batch_id")])
    return compare(src, wh, content(source, warehouse, aside, shared))


def compare(src: dict[str, Any], wh: dict[str, Any], rows: Content) -> Verification:
    """The checks and notes, from what each side holds and how their rows differ (pure)."""
    result = Verification()
    differences = rows.differences
    kept, inferred = wh["kept"], wh["inferred"]

    def kept_ids(table: str) -> pl.DataFrame:
        return kept.filter(pl.col("star_table") == table).select("id")

    for fact in FACTS:
        found = differences[fact.name]
        gone = kept_ids(fact.name)
        missing = found.ids.only_left
        result.checks.append(Check(fact.name, "ids", found.left_rows, found.right_rows))
        result.checks.append(
            Check(
                fact.name,
                "current versions missing",
                0,
                len(missing),
                _first(missing) if found.complete else found.detail(),
            )
        )
        result.checks.append(
            Check(
                fact.name,
                "ids whose columns differ",
                0,
                len(found.ids.changed) + len(found.ids.only_right),
                found.detail(),
            )
        )
        result.checks.append(
            Check(
                fact.name,
                "money per currency (latest versions)",
                by_code(rows.source_money[fact.name], src["currencies"]),
                by_code(rows.warehouse_money[fact.name], wh["currencies"]),
            )
        )
        if gone.height:
            result.notes.append(
                f"{fact.name}: {counted(gone.height, 'id')} deleted in totesys; their versions "
                "stay as history"
            )
        for column, orphans in wh[f"orphans {fact.name}"].items():
            result.checks.append(Check(fact.name, f"orphan {column}", 0, orphans))
    for dim_name, table in DIMENSION_SOURCES.items():
        held = kept_ids(dim_name).height
        result.checks.append(
            Check(
                dim_name, f"rows vs {table}", src[f"rows {dim_name}"], wh[f"rows {dim_name}"] - held
            )
        )
        found = differences[dim_name]
        result.checks.append(
            Check(dim_name, "ids whose columns differ", 0, found.ids.count, found.detail())
        )
        if held:
            result.notes.append(
                f"{dim_name}: {counted(held)} deleted in totesys, kept because facts point at them"
            )
    result.checks.append(_calendar_check(wh["calendar"]))
    _report_inferred(inferred, result)
    return result


def _calendar_check(differing: pl.DataFrame) -> Check:
    """dim_date's rows that are not the calendar of their date: how many, the first named."""
    count = int(differing["n"][0]) if differing.height else 0
    columns = [c for c in differing.columns if c not in ("id", "n")]
    examples = [
        f"id {row['id']}: {', '.join(c for c in columns if row[c])}"
        for row in differing.iter_rows(named=True)
    ]
    return Check("dim_date", "rows not the calendar of their date", 0, count, "; ".join(examples))


def by_code(totals: dict[int, str], codes: dict[int, str]) -> dict[str, str]:
    """Totals per currency id as totals per currency code ('id 9' where the code is unknown)."""
    return {codes.get(currency, f"id {currency}"): total for currency, total in totals.items()}


def _first(ids: list[int]) -> str:
    return f"e.g. id {', '.join(map(str, ids[:3]))}" if ids else ""


def _report_inferred(inferred: pl.DataFrame, result: Verification) -> None:
    """Placeholders still waiting for their dimension rows: the warehouse is not the source
    until they arrive (see load/inferred.py)."""
    waiting = (
        inferred.group_by("star_table")
        .agg(pl.len().alias("n"), pl.col("batch_id").min(), pl.col("id").min())
        .sort("star_table")
    )
    for dim, count, batch_id, example in waiting.iter_rows():
        result.checks.append(Check(dim, "inferred members waiting for their rows", 0, int(count)))
        result.notes.append(
            f"{dim}: {counted(count, 'placeholder')} (e.g. id {example}, from batch {batch_id}) "
            "standing in for rows totesys has not delivered; the next extract of that table "
            "brings them"
        )
