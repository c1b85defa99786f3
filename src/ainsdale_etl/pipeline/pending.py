"""What is due: the committed batches a later step has not taken yet, oldest first."""

from __future__ import annotations

from ainsdale_etl.core.batches import committed_batches
from ainsdale_etl.core.storage import Storage


def pending_transforms(
    ingest: Storage, processed: Storage, transformed: list[str] | None = None
) -> list[str]:
    """Extracted batches not yet transformed, oldest first; ``transformed`` is the processed
    bucket's committed batches, if the caller has listed them already."""
    done = set(committed_batches(processed) if transformed is None else transformed)
    return [b for b in committed_batches(ingest) if b not in done]


def pending_loads(processed: Storage, loaded: set[str]) -> list[str]:
    return [b for b in committed_batches(processed) if b not in loaded]
