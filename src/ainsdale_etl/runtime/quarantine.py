"""Quarantine: a batch that failed on its input stops every later batch, with one line saying
why and what to do.

The quarantine itself is recorded in the batch ledger (load/ledger.py) by the step's policy
(pipeline/policy.py); while it holds, every run tries that batch again first and stops there if
it still fails; ``ainsdale-etl batches`` shows it. It lifts when the batch succeeds.
"""

from __future__ import annotations

from datetime import datetime

from ainsdale_etl.core.errors import BadInputError


def blocked_error(batch_id: str, step: str, reason: str, since: datetime | None) -> BadInputError:
    """The error a run stops with when a quarantined batch still fails."""
    when = f" since {since:%Y-%m-%d %H:%M:%S}" if since else ""
    return BadInputError(
        f"batch {batch_id} is quarantined{when} ({step}: {reason}); "
        "later batches wait behind it, and every run tries it again. Fix the row in totesys "
        "(the next run takes its new version and leaves this one out) or restore the batch's "
        f"objects, then let the schedule run, or run 'ainsdale-etl run-all --batch-id "
        f"{batch_id}'"
    )
