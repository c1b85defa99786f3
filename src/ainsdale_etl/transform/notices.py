"""What a transform warns about but loads all the same: none of it is bad input.

* rows dated in the future (a writer's clock runs fast): they exist, so they load;
* currency codes ISO 4217 does not know: named by themselves;
* rows pointing at a department or an address no batch has delivered yet: joined with
  placeholders, and rebuilt when the row arrives.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ainsdale_etl.core.events import Reporter, counted

if TYPE_CHECKING:
    from collections.abc import Mapping

    import polars as pl

# No time zone is further ahead of UTC than this: a last_updated later than the batch's own
# time (UTC) by more was stamped by a clock that runs fast.
FUTURE_SLACK = timedelta(hours=14)

# (table, column, the table it points at, its key): the joins a dimension is built from
_JOINS = (
    ("staff", "department_id", "department", "department_id"),
    ("counterparty", "legal_address_id", "address", "address_id"),
)


def report_future_dated(
    reporter: Reporter, batch_id: str, future: Mapping[str, tuple[int, datetime]]
) -> None:
    for name, (count, latest) in sorted(future.items()):
        reporter.warning(
            f"batch {batch_id}: {name} has {counted(count)} dated in the future, up to "
            f"{latest}: a writer's clock runs fast; loaded all the same",
            kind="future_dated",
            batch_id=batch_id,
            step="transform",
            table=name,
            count=count,
            latest=str(latest),
        )


def report_star_notices(
    reporter: Reporter,
    batch_id: str,
    star: Mapping[str, pl.DataFrame],
    changes: Mapping[str, pl.DataFrame],
    current: Mapping[str, pl.DataFrame],
) -> None:
    from ainsdale_etl.transform.star import unknown_currency_codes
    from ainsdale_etl.transform.star.dimensions import unknown_references

    for code in unknown_currency_codes(star["dim_currency"]):
        reporter.warning(
            f"batch {batch_id}: currency code {code} is not in ISO 4217; named {code!r} "
            "in dim_currency",
            kind="unknown_currency",
            batch_id=batch_id,
            step="transform",
            code=code,
        )
    for table, column, target, key in _JOINS:
        if table not in changes:
            continue
        orphans = unknown_references(changes[table], column, current[target], key)
        if orphans.height:
            first = orphans.row(0, named=True)
            reporter.warning(
                f"batch {batch_id}: {table} rows point at a {target} no batch has delivered "
                f"yet ({orphans.height:,} of them, e.g. {column}={first[column]}); built with "
                "placeholders, rebuilt when it arrives",
                kind="unknown_reference",
                batch_id=batch_id,
                step="transform",
                table=table,
                count=orphans.height,
            )
