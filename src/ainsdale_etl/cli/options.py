"""The options several commands share, and the parsing of their values into the core's terms."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from ainsdale_etl.core.batches import (
    committed_batches,
    manifest_key,
    parse_batch_id,
    select_batches,
)
from ainsdale_etl.core.errors import ConfigError
from ainsdale_etl.core.events import plural
from ainsdale_etl.core.registry import SOURCE_TABLES
from ainsdale_etl.core.storage import Storage


def parse_tables(value: str | None) -> list[str] | None:
    """A --tables value as source table names (None: all of them)."""
    if not value:
        return None
    names = [t.strip() for t in value.split(",") if t.strip()]
    unknown = [t for t in names if t not in SOURCE_TABLES]
    if unknown:
        raise ConfigError(
            f"unknown {plural('table', len(unknown))} {', '.join(unknown)}; choose from "
            f"{', '.join(SOURCE_TABLES)}"
        )
    return names


def batch_bound(value: str | None) -> str | None:
    """A --since/--until value (a batch id or a YYYY-MM-DD date) as a batch id prefix."""
    if value is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value.replace("-", "")
    try:
        parse_batch_id(value)
    except ConfigError:
        raise ConfigError(f"{value!r} is neither a batch id nor a YYYY-MM-DD date") from None
    return value


def chosen_batches(
    bucket: Storage, batch_id: str | None, since: str | None, until: str | None
) -> list[str] | None:
    """The committed batches of ``bucket`` a --batch-id or --since/--until names (None: no
    choice made). Only a range lists the bucket: a scheduled run names none, and one batch is
    one look at its manifest (listings must not grow with history: see load/ledger.py)."""
    if batch_id is None and since is None and until is None:
        return None
    if since is None and until is None:
        parse_batch_id(batch_id or "")
        chosen = [batch_id] if batch_id and bucket.exists(manifest_key(batch_id)) else []
    else:
        chosen = select_batches(
            committed_batches(bucket),
            batch_id=batch_id,
            since=batch_bound(since),
            until=batch_bound(until),
        )
    if batch_id is not None and not chosen:
        raise ConfigError(f"no committed batch {batch_id}; 'ainsdale-etl batches' lists them")
    return chosen


BatchId = Annotated[
    str | None, typer.Option("--batch-id", help="Process this batch again (backfill / repair).")
]
ReExtract = Annotated[
    str | None,
    typer.Option(
        "--batch-id",
        help="Read this committed batch's windows again (its objects were lost) and replace "
        "its objects; nothing else is extracted.",
    ),
]
Since = Annotated[
    str | None, typer.Option(help="Only batches from this batch id or YYYY-MM-DD on.")
]
Until = Annotated[str | None, typer.Option(help="Only batches up to this batch id or YYYY-MM-DD.")]
Tables = Annotated[
    str | None, typer.Option(help="Comma-separated source tables to extract (default: all).")
]
Full = Annotated[bool, typer.Option("--full", help="Extract every row, ignoring previous batches.")]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Show what would be extracted; write nothing.")
]
Wait = Annotated[
    float | None,
    typer.Option(
        "--wait",
        min=0,
        help="Seconds to wait for another run to finish before exiting 75 "
        "(default: AINSDALE_LOCK_WAIT_SECONDS, 0).",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Force = Annotated[
    bool,
    typer.Option(
        "--force", help="Proceed even if the database holds data this tool did not create."
    ),
]

Rebind = Annotated[
    bool,
    typer.Option(
        "--rebind",
        help="Move the warehouse to the configured buckets and lake when it was fed from "
        "others (see docs/change-capture.md: State); without it such a run is refused.",
    ),
]
