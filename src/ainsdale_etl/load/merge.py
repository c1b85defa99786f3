"""The incremental load: a batch staged, checked and merged with one set-based statement.

Rows are written where no newer version of them is loaded (:mod:`.versions`): dimensions are
upserted on their id; facts on their natural key (id, last_updated), so a fact version is never
duplicated, and one captured again with other content replaces the stored one, with a warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.adapters.postgres import fetch_all
from ainsdale_etl.core.events import Reporter, plural
from ainsdale_etl.core.registry import SOURCE_VERSION, StarTable, quote_ident
from ainsdale_etl.load.history import record_fact_batches, record_history
from ainsdale_etl.load.inferred import infer_members
from ainsdale_etl.load.references import check_references, repeated_key_error
from ainsdale_etl.load.table_data import TableData
from ainsdale_etl.load.triggers import TriggerSkipping
from ainsdale_etl.load.versions import (
    current_version,
    not_superseded,
    record_fact_versions,
    record_versions,
    written_rows,
)

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor


def _merge_sql(table: StarTable, staging: str, *, per_row: bool = False) -> str:
    """The statement merging ``staging`` into ``table`` (parameters: $1 the batch id, $2 the
    table's name), returning one ``inserted`` flag per row it wrote. Dates are only added.
    Other rows are written where no newer version of them is loaded (:mod:`.versions`): a
    dimension's by its id; a fact's by its natural key, a new version added, the same version
    captured again with other content (a fix at the source, a cascaded key change) replaced."""
    columns = ", ".join(quote_ident(c) for c in table.column_names)
    keys = ", ".join(quote_ident(k) for k in table.key)
    insert = f"INSERT INTO {quote_ident(table.name)} ({columns}) SELECT {columns} FROM {staging}"
    if table.name == "dim_date":
        return f"{insert} ON CONFLICT ({keys}) DO NOTHING RETURNING true AS inserted"
    values = [c for c in table.column_names if c not in table.key]
    assignments = ", ".join(f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}" for c in values)
    current = ", ".join(f"{quote_ident(table.name)}.{quote_ident(c)}" for c in values)
    incoming = ", ".join(f"EXCLUDED.{quote_ident(c)}" for c in values)
    # Skip rows that did not change: no dead tuples, no needless index churn.
    changed = f"({current}) IS DISTINCT FROM ({incoming})"
    if table.is_fact:
        newer = f"$1 >= {current_version(table, 'EXCLUDED.' + quote_ident(table.key[0]))}"
        return (
            f"{insert} ON CONFLICT ({keys}) DO UPDATE SET {assignments} "
            f"WHERE {changed} AND {newer} RETURNING (xmax = 0) AS inserted"
        )
    return (
        f"{insert} s WHERE {not_superseded(table, 's', per_row=per_row)} "
        f"ON CONFLICT ({keys}) DO UPDATE SET {assignments} WHERE {changed} "
        "RETURNING true AS inserted"
    )


def merge_table(
    cur: Cursor,
    batch_id: str,
    table: StarTable,
    data: TableData,
    *,
    triggers: TriggerSkipping,
    reporter: Reporter,
) -> int:
    """Copy a batch into staging and merge it with one statement; returns the rows gained or
    changed.

    The staged rows' references are checked set-based first (check_references), in this
    transaction, under the pipeline lock. PostgreSQL would check each again with a trigger per
    row -- most of an incremental load's time (0.37 s of 0.41 s for 11k sales orders into a
    1.1M-row fact table) -- so where the role may, the insert runs with those triggers off
    (:mod:`.triggers`; the user's own triggers fire all the same).
    """
    staging = f'"{table.name}_stage"'  # a registry table name plus a fixed suffix
    cur.adbc_ingest(f"{table.name}_stage", data.reader, mode="create", temporary=True)
    keys = ", ".join(quote_ident(k) for k in table.key)
    if fetch_all(cur, f"SELECT 1 FROM {staging} GROUP BY {keys} HAVING count(*) > 1 LIMIT 1"):
        raise repeated_key_error(batch_id, table)
    if table.is_fact:  # a row not delivered yet gets a placeholder, not a quarantine
        # Found once, not once per foreign key: each finding probes the natural key per row.
        written = f'"{table.name}_written"'  # a registry table name plus a fixed suffix
        cur.execute(
            f"CREATE TEMPORARY TABLE {written} AS "
            f"SELECT * FROM {written_rows(table, staging, '$1')} w",
            [batch_id],
        )
        infer_members(cur, batch_id, table, written)
        cur.execute(f"DROP TABLE {written}")
        dates = [c.name for c in table.foreign_keys if c.references == "dim_date"]
        check_references(cur, batch_id, table, staging, dates)  # the rest are all there now
    else:
        check_references(cur, batch_id, table, staging)
    per_row = SOURCE_VERSION in data.reader.schema.names  # a joined dimension's own versions
    sql = _merge_sql(table, staging, per_row=per_row)
    versioned = table.name != "dim_date"
    with triggers.off(cur, table):
        merged, replaced, example = fetch_all(
            cur,
            f"WITH merged AS ({sql}, {quote_ident(table.key[0])} AS id) "
            "SELECT count(*), count(*) FILTER (WHERE NOT inserted), "
            "min(id) FILTER (WHERE NOT inserted) FROM merged",
            [batch_id, table.name] if versioned else None,
        )[0]
    if table.is_fact:
        record_fact_versions(cur, batch_id, table, staging)
        record_fact_batches(cur, batch_id, table, staging)
        if replaced:
            reporter.warning(
                f"batch {batch_id}: {replaced:,} {table.name} {plural('version', replaced)} "
                f"captured again with other content (e.g. id {example}: a fix at the source, or "
                "a key changed with ON UPDATE CASCADE) replaced the stored ones",
                kind="fact_versions_replaced",
                batch_id=batch_id,
                table=table.name,
                count=int(replaced),
            )
    elif versioned:
        record_versions(cur, batch_id, table, staging, per_row=per_row)
        record_history(cur, batch_id, table, staging, per_row=per_row)
    cur.execute(f"DROP TABLE {staging}")
    return int(merged)
