"""Where each batch stands, from the batch ledger, and whether its committed objects are still
there: ``batches`` lists each bucket once and names every manifest or object that is gone;
``batches --check`` also reads each object back against its checksum."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ainsdale_etl.core.batches import (
    Manifest,
    fetch_checked,
    manifest_key,
    read_manifest,
    sha256_bytes,
)
from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.core.storage import ObjectNotFoundError
from ainsdale_etl.load.ledger import NOTHING_LEFT

if TYPE_CHECKING:
    from ainsdale_etl.core.storage import Storage
    from ainsdale_etl.load.ledger import BatchState
    from ainsdale_etl.runtime.context import Context


@dataclass(frozen=True)
class BatchStatus:
    batch_id: str
    status: str  # extracted | transformed | loaded | quarantined | lost
    rows: int  # source rows extracted
    tables: dict[str, int]
    deleted: dict[str, int]  # rows found deleted at the source, per table
    inferred: dict[str, int]  # placeholders it added that still wait for their rows, per dim
    superseded: dict[str, list[int]]  # bad versions left out, fixed in a later batch
    snapshot: str | None  # the source snapshot read (pg_current_snapshot)
    upper: str | None  # when it was taken, UTC
    loaded_at: str | None
    lake_at: str | None = None
    follows: str | None = None
    problem: str | None = None  # why a quarantined batch was stopped
    missing: list[str] = field(default_factory=list)  # objects gone or changed, with the repair

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def batch_statuses(ctx: Context, *, check: bool = False) -> list[BatchStatus]:
    """Every batch the ledger holds, oldest first, with its committed objects confirmed to be
    there (``check``: and to match their checksums)."""
    from ainsdale_etl.load.ledger import all_batches, inferred_waiting

    ledger = all_batches(ctx.warehouse)
    waiting = inferred_waiting(ctx.warehouse)
    listed = {  # one listing of each bucket: this command's answer is the whole history
        "ingest": set(ctx.ingest.list("data/")),
        "processed": set(ctx.processed.list("data/")),
    }
    known = {s.batch_id for s in ledger}
    with tempfile.TemporaryDirectory() as tmp:
        return [
            _status(ctx, state, waiting, listed, known, Path(tmp) if check else None)
            for state in ledger
        ]


def _status(
    ctx: Context,
    state: BatchState,
    waiting: dict[str, dict[str, int]],
    listed: dict[str, set[str]],
    known: set[str],
    tmp: Path | None,
) -> BatchStatus:
    batch_id = state.batch_id
    missing: list[str] = []
    ingest = _manifest(ctx.ingest, listed["ingest"], batch_id)
    processed = None
    if state.status == "lost":
        by = state.repaired_by
        again = (
            "the next extract reads them again"
            if by is None
            else "read again, and no change was left in them"
            if by == NOTHING_LEFT
            else f"read again by batch {by}"
        )
        missing.append(f"its objects were gone before it was loaded; {again}")
    elif ingest is None:
        missing.append(_gone("ingest", ctx.ingest.uri, manifest_key(batch_id), state))
    else:
        raw = ctx.ingest.get_bytes(manifest_key(batch_id))
        if state.manifest_sha256 and sha256_bytes(raw) != state.manifest_sha256:
            missing.append(
                f"its ingest manifest in {ctx.ingest.uri} is not the one the ledger recorded "
                f"(changed by hand?): run 'ainsdale-etl extract --batch-id {batch_id}'"
            )
        missing += _objects(ctx.ingest, listed["ingest"], ingest, state, tmp)
    if state.transformed_at is not None and state.status != "lost":
        processed = _manifest(ctx.processed, listed["processed"], batch_id)
        if processed is None:
            missing.append(_gone("processed", ctx.processed.uri, manifest_key(batch_id), state))
        else:
            missing += _objects(ctx.processed, listed["processed"], processed, state, tmp)
    if state.follows is not None and state.follows not in known:
        missing.append(f"the batch it follows, {state.follows}, is not in the ledger")
    windows = [t for t in ingest.tables.values() if t.upper] if ingest else []
    return BatchStatus(
        batch_id=batch_id,
        status=state.status,
        rows=ingest.total_rows if ingest else 0,
        tables={n: t.rows for n, t in ingest.tables.items() if t.rows} if ingest else {},
        deleted={n: len(t.deleted) for n, t in ingest.tables.items() if t.deleted}
        if ingest
        else {},
        inferred=waiting.get(batch_id, {}),
        superseded=processed.superseded if processed else {},
        snapshot=next((t.snapshot for t in windows if t.snapshot), None),
        upper=max((t.upper for t in windows if t.upper), default=None),
        loaded_at=str(state.loaded_at) if state.loaded_at else None,
        lake_at=str(state.lake_at) if state.lake_at else None,
        follows=state.follows,
        problem=(
            f"{state.quarantine_step}: {state.quarantine_reason}" if state.quarantine_step else None
        ),
        missing=missing,
    )


def _manifest(storage: Storage, listed: set[str], batch_id: str) -> Manifest | None:
    if manifest_key(batch_id) not in listed:
        return None
    try:
        return read_manifest(storage, batch_id)
    except (ObjectNotFoundError, BadInputError):
        return None


def _gone(bucket: str, uri: str, key: str, state: BatchState) -> str:
    if bucket == "processed" and state.status != "loaded":
        repair = f"'ainsdale-etl transform --batch-id {state.batch_id}' writes it again"
    elif bucket == "processed":
        repair = (
            "the warehouse holds it; 'ainsdale-etl transform --batch-id "
            f"{state.batch_id}' writes it again"
        )
    elif state.status == "loaded":
        repair = "the warehouse holds it; restore the objects from a backup if they matter"
    else:
        repair = "the next run reads its windows again"
    return f"its {bucket} manifest {key} is gone from {uri}: {repair}"


def _objects(
    storage: Storage, listed: set[str], manifest: Manifest, state: BatchState, tmp: Path | None
) -> list[str]:
    """Each object the manifest names that is gone (or, given ``tmp``, does not match its
    checksum), with the repair."""
    problems = []
    again = (
        f"'ainsdale-etl extract --batch-id {state.batch_id}'"
        if manifest.stage == "extract"
        else f"'ainsdale-etl transform --batch-id {state.batch_id}'"
    )
    for entry in manifest.tables.values():
        for key, sha in ((entry.key, entry.sha256), (entry.ids_key, entry.ids_sha256)):
            if key is None:
                continue
            if key not in listed:
                problems.append(f"object {key} is gone from {storage.uri}: run {again}")
            elif tmp is not None and sha is not None:
                try:
                    fetch_checked(
                        storage,
                        state.batch_id,
                        entry.model_copy(update={"key": key, "sha256": sha}),
                        tmp,
                    ).unlink()
                except BadInputError:
                    problems.append(
                        f"object {key} in {storage.uri} does not match its checksum: run {again}"
                    )
    return problems
