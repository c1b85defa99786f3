"""Nothing lost silently: the ledger and the buckets' manifests reconciled before an extract.

Two things can make them disagree, and each is repaired here, in constant requests per run:

* **A manifest the ledger does not know**: a crash between an extract's commit (its manifest)
  and its ledger row, or a warehouse new to these buckets. The ingest bucket is listed from the
  ledger's newest batch on, and every batch found is adopted (and counted as transformed if its
  processed manifest is there).
* **A batch whose objects are gone** before it was loaded (a lifecycle rule, a hand): its
  manifest is missing. It is recorded as lost, and this run's extract reads every window from
  the batch before it on, so the new batch carries every version the lost one held (versions
  read twice are harmless downstream). The lost batch names the batch that repaired it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.core.batches import committed_batches, manifest_key, read_manifest, sha256_bytes
from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.core.events import counted
from ainsdale_etl.core.storage import ObjectNotFoundError
from ainsdale_etl.extract.prior import Prior
from ainsdale_etl.load.ledger import (
    batch_state,
    extracted_ids,
    ledger_has_checksums,
    record_extracted,
    record_lost,
    record_transformed,
    record_untransformed,
)
from ainsdale_etl.pipeline.pending import due

if TYPE_CHECKING:
    from ainsdale_etl.runtime.context import Context

# The newest batches read first when a new batch walks back for its windows: the newest one
# holds every table's window unless tables were extracted alone (--tables).
_RECENT = 64


def adopt_committed(ctx: Context, newest: str | None) -> list[str]:
    """Record in the ledger every batch committed to the ingest bucket after its newest (all
    of them the first time after an upgrade: a ledger filled by migration 0004 knows only the
    batches that were loaded)."""
    whole = newest is None or not ledger_has_checksums(ctx.warehouse)
    known = set(extracted_ids(ctx.warehouse)) if whole else {newest}
    adopted: list[str] = []
    for batch_id in committed_batches(ctx.ingest, since=None if whole else newest):
        if batch_id in known:
            continue
        try:
            raw = ctx.ingest.get_bytes(manifest_key(batch_id))
        except ObjectNotFoundError:
            continue
        manifest = read_manifest(ctx.ingest, batch_id)
        record_extracted(
            ctx.warehouse,
            batch_id,
            follows=manifest.follows,
            manifest_sha256=sha256_bytes(raw),
            ingest_uri=ctx.ingest.uri,
        )
        if ctx.processed.exists(manifest_key(batch_id)):
            record_transformed(ctx.warehouse, batch_id, ctx.processed.uri)
        follows = manifest.follows
        if (
            follows
            and follows not in {*known, *adopted}
            and not batch_state(ctx.warehouse, follows)
        ):
            _chain_gap(ctx, batch_id, follows)
        adopted.append(batch_id)
    if adopted:
        ctx.reporter.event(
            "batches_adopted",
            f"recorded {counted(len(adopted), 'committed batch')} the ledger did not have "
            f"({adopted[0]} … {adopted[-1]})",
            step="extract",
            count=len(adopted),
        )
    return adopted


def _chain_gap(ctx: Context, batch_id: str, follows: str) -> None:
    """A committed batch follows one neither the ledger nor the bucket has: that batch's
    windows were read by nobody else. Its changes are in no batch, so the next extract reads
    them again from the batch before it (as for any lost batch)."""
    ctx.reporter.warning(
        f"batch {batch_id} follows batch {follows}, which is in neither the ledger nor "
        f"{ctx.ingest.uri}; its windows are read again",
        kind="batch_chain_gap",
        batch_id=batch_id,
    )
    record_extracted(
        ctx.warehouse, follows, follows=None, manifest_sha256="", ingest_uri=ctx.ingest.uri
    )
    record_lost(ctx.warehouse, follows)


def find_lost(ctx: Context, transform_due: list[str], load_due: list[str]) -> list[str]:
    """The batches due for a transform whose ingest manifest is gone, recorded as lost, and
    those due for a load whose processed manifest is gone, owed a transform again (one look
    per due batch: they are few)."""
    lost = [b for b in transform_due if not ctx.ingest.exists(manifest_key(b))]
    for batch_id in lost:
        record_lost(ctx.warehouse, batch_id)
    for batch_id in load_due:
        if not ctx.processed.exists(manifest_key(batch_id)):
            _transform_again(ctx, batch_id)
    return lost


def _transform_again(ctx: Context, batch_id: str) -> None:
    record_untransformed(ctx.warehouse, batch_id)
    ctx.reporter.warning(
        f"batch {batch_id} was transformed but its objects are gone from {ctx.processed.uri} "
        "before it was loaded; it is transformed again",
        kind="batch_transformed_again",
        batch_id=batch_id,
    )


def extract_history(ctx: Context, *, record: bool = True) -> Prior:
    """What a new batch follows, after adopting committed batches the ledger lacks and
    finding lost ones (``record``: a dry run writes nothing to the ledger)."""
    now = due(ctx)
    if record and adopt_committed(ctx, now.newest):
        now = due(ctx)
    lost = find_lost(ctx, now.transform, now.load) if record else []
    unrepaired = sorted(
        {*lost}
        | {
            s.batch_id
            for s in now.states.values()
            if s.lost_at is not None and s.loaded_at is None and s.repaired_by is None
        }
    )
    for batch_id in unrepaired:
        ctx.reporter.warning(
            f"batch {batch_id} was extracted but its objects are gone from {ctx.ingest.uri} "
            "before it was loaded; this extract reads its windows again",
            kind="batch_lost",
            step="extract",
            batch_id=batch_id,
        )
    recent = extracted_ids(ctx.warehouse, newest=_RECENT)
    return Prior(
        recent,
        older=lambda: extracted_ids(ctx.warehouse),
        window_floor=unrepaired[0] if unrepaired else None,
        lost=unrepaired,
        newest=now.newest,
    )


def missing_before_transform(ctx: Context, batch_id: str) -> None:
    """A batch due for a transform whose ingest objects are gone: recorded as lost, and the
    command stops naming it and the repair (run-all repairs it by itself, before this)."""
    if ctx.ingest.exists(manifest_key(batch_id)):
        return
    record_lost(ctx.warehouse, batch_id)
    raise LostBatchError(
        f"batch {batch_id} is gone from {ctx.ingest.uri} (its manifest is missing) and was "
        "never loaded; run 'ainsdale-etl extract' (or run-all): the next extract reads its "
        "windows again"
    )


def missing_before_load(ctx: Context, batch_id: str) -> None:
    """A batch due for a load whose processed objects are gone: owed a transform again, and
    the command stops naming it and the repair (run-all repairs it by itself, before this)."""
    if ctx.processed.exists(manifest_key(batch_id)):
        return
    _transform_again(ctx, batch_id)
    raise LostBatchError(
        f"batch {batch_id} is gone from {ctx.processed.uri} (its manifest is missing) and was "
        "never loaded; run 'ainsdale-etl transform' (or run-all): it is transformed again"
    )


class LostBatchError(BadInputError):
    """A batch's objects are gone before it was loaded (not quarantined: re-extracted)."""
