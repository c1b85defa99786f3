"""Source drift: totesys's columns compared with the registry's, before an extract writes anything.

The extract selects the registry's columns by name, so a column totesys gained would vanish
silently and one it lost or renamed would fail every run with a raw database error. Every
column of the tables to extract is read from the catalog in one query and compared:

- a column the registry does not know is reported (a warning per run); with
  ``AINSDALE_SOURCE_DRIFT=fail`` it stops the extract instead;
- a registry column that is gone, or whose new type would lose data on its way into the star
  (money as a float, a timestamp with a zone, an integer the star's cannot hold), stops the
  extract whatever the setting: exit 2, one line, nothing written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ainsdale_etl.core.errors import EtlError, ExitCode
from ainsdale_etl.core.events import Reporter, counted
from ainsdale_etl.core.registry import SOURCE_TABLES, Kind, SourceColumn

if TYPE_CHECKING:
    import psycopg

DriftPolicy = Literal["warn", "fail"]

# Each column of the named tables, resolved as the extract's unqualified SELECT resolves them.
_COLUMNS = """
    SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), t.typtype = 'e'
    FROM unnest(%s::text[]) AS wanted(name)
    JOIN pg_class c ON c.oid = to_regclass(quote_ident(wanted.name))
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid
    ORDER BY c.relname, a.attnum"""

_TEXT = ("text", "character varying")
_NUMERIC = re.compile(r"numeric\((\d+),(\d+)\)")
_TIMESTAMP = re.compile(r"timestamp(?:\((\d)\))? without time zone")


class SourceDriftError(EtlError):
    """totesys no longer has what the registry declares; nothing was extracted."""

    exit_code = ExitCode.USAGE


@dataclass
class Drift:
    """How totesys differs from the registry: "table.column" names, and why each retyped
    column would lose data."""

    added: dict[str, list[str]] = field(default_factory=dict)  # table -> its unknown columns
    absent: list[str] = field(default_factory=list)  # tables not there at all
    missing: list[str] = field(default_factory=list)
    lossy: list[str] = field(default_factory=list)

    def problems(self, policy: DriftPolicy) -> list[str]:
        """What stops an extract under ``policy``, one phrase each."""
        found = [f"table {name} is gone, and the star needs it" for name in self.absent]
        for name in self.missing:
            table = name.split(".", 1)[0]
            maybe = f" (renamed to {', '.join(self.added[table])}?)" if table in self.added else ""
            found.append(f"{name} is gone{maybe}, and the star needs it")
        found += self.lossy
        if policy == "fail":  # (a table's new columns named as renames above are not repeated)
            renamed = {name.split(".", 1)[0] for name in self.missing}
            found += [
                f"{table} has {counted(len(cols), 'column')} the registry does not know: "
                f"{', '.join(cols)} "
                "(AINSDALE_SOURCE_DRIFT=fail)"
                for table, cols in self.added.items()
                if table not in renamed
            ]
        return found


def _loss(column: SourceColumn, sql_type: str, is_enum: bool) -> str | None:
    """Why ``sql_type`` would lose data of a ``column.kind`` column; None if it would not."""
    kind = column.kind
    text = sql_type.startswith(_TEXT) and not sql_type.endswith("]")
    if kind is Kind.INT:
        return None if sql_type in ("integer", "smallint") else "the star's integer"
    if kind is Kind.TEXT:
        return None if text else "text"
    if kind is Kind.DATE_TEXT:
        return None if text or sql_type == "date" else "a YYYY-MM-DD date"
    if kind is Kind.ENUM:
        return None if text or is_enum else "an enum's labels"
    if kind is Kind.BOOL:
        return None if sql_type == "boolean" else "a boolean"
    if kind is Kind.MONEY:
        money = _NUMERIC.fullmatch(sql_type)
        exact = money and int(money[2]) <= 2 and int(money[1]) - int(money[2]) <= 8
        return None if exact else "money's exact numeric(10,2)"
    stamp = _TIMESTAMP.fullmatch(sql_type)  # Kind.TIMESTAMP: naive, milliseconds
    return None if stamp and stamp[1] is not None and int(stamp[1]) <= 3 else "timestamp(3)"


def compare_columns(rows: Iterable[tuple[str, str, str, bool]], tables: Iterable[str]) -> Drift:
    """The drift of the catalog ``rows`` (table, column, type, is an enum) from the registry's
    ``tables``. Pure: :func:`source_drift` reads the rows."""
    drift = Drift()
    found: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, name, sql_type, is_enum in rows:
        found.setdefault(table, {})[name] = (sql_type, is_enum)
    for name in tables:
        declared = SOURCE_TABLES[name]
        present = found.get(name, {})
        if not present:
            drift.absent.append(name)  # one phrase for the table, not one per column
            continue
        added = [c for c in present if c not in declared.column_names]
        if added:
            drift.added[name] = added
        for column in declared.columns:
            if column.name not in present:
                drift.missing.append(f"{name}.{column.name}")
                continue
            sql_type, is_enum = present[column.name]
            expected = _loss(column, sql_type, is_enum)
            if expected:
                drift.lossy.append(
                    f"{name}.{column.name} is {sql_type}, which would not keep {expected}"
                )
    return drift


def not_totesys(tables: Iterable[str], absent: Iterable[str], database: str) -> str | None:
    """One line where the source is not totesys at all (under half of ``tables`` there): a
    column-by-column account of every table would bury the point. None where it may be."""
    wanted, gone = list(tables), set(absent)
    present = [name for name in wanted if name not in gone]
    if len(present) * 2 >= len(wanted):
        return None
    found = f"only {', '.join(present)} of totesys's tables" if present else "no totesys tables"
    return (
        f"{found} in database {database}: point the source (AINSDALE_SOURCE_URL or "
        "AINSDALE_SOURCE_SECRET_ID) at the totesys database (the embedded default's is filled "
        "by `ainsdale-etl demo` or `ainsdale-etl seed`)"
    )


def source_drift(conn: psycopg.Connection, tables: Iterable[str]) -> Drift:
    """How the source's ``tables`` differ from the registry's (one catalog query)."""
    names = list(tables)
    return compare_columns(conn.execute(_COLUMNS, [names]).fetchall(), names)


def guard_source_columns(
    conn: psycopg.Connection, tables: Iterable[str], policy: DriftPolicy, reporter: Reporter
) -> None:
    """Stop (:class:`SourceDriftError`) where the source lost what the star needs, or gained
    columns under ``fail``; else warn of each table's unknown columns, which are ignored."""
    names = list(tables)
    drift = source_drift(conn, names)
    foreign = not_totesys(names, drift.absent, conn.info.dbname)
    if foreign:
        raise SourceDriftError(f"{foreign}; nothing was extracted")
    problems = drift.problems(policy)
    if problems:
        raise SourceDriftError(
            f"totesys differs from the registry: {'; '.join(problems)}; nothing was extracted"
        )
    for table, columns in drift.added.items():
        reporter.warning(
            f"totesys {table} has {counted(len(columns), 'column')} the registry does not know, "
            "not extracted: "
            f"{', '.join(columns)} (AINSDALE_SOURCE_DRIFT=warn)",
            kind="source_drift",
            step="extract",
            table=table,
            columns=columns,
        )
