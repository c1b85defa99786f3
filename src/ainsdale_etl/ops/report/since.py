"""What changed since the previous report: the figures it was built from, kept beside it.

Each report writes ``report.json``: the batch it is as of, its period, and per currency its
orders, value and each design's value, keyed by the design's id (its label beside it), so a
design renamed between two reports is one design whose name changed, not one design losing
its sales and another gaining them. The next report reads it back and shows the difference:
orders and value gained since that batch, and the designs whose sales moved most; or, built
again on the same batch, that there is no new batch since. Comparing the totals (not
re-reading facts by load time) stays right when an order is revised: a revision moves the
totals exactly as much as it moved the business.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ainsdale_etl.ops.report.data import ReportData

MOVERS = 5
STATE_VERSION = 2  # 1 keyed designs by label: a rename read as a loss and a gain


def report_state(data: ReportData) -> dict[str, Any]:
    """What this report was built from, for the next one to compare with (JSON-ready)."""
    import polars as pl

    designs: dict[str, dict[str, dict[str, str]]] = {}
    if not data.has_sales:  # nothing to sum (an empty warehouse has no frames at all)
        return _state(data, designs)
    per_design = (
        data.frames["designs_by_month"]
        .group_by("currency_code", "design_id")
        .agg(pl.col("label").first(), pl.col("value").sum())
        .sort("currency_code", "design_id")
    )
    for row in per_design.iter_rows(named=True):
        designs.setdefault(row["currency_code"], {})[str(row["design_id"])] = {
            "label": row["label"],
            "value": f"{row['value']:.2f}",
        }
    return _state(data, designs)


def _state(data: ReportData, designs: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "batch_id": data.as_of[0] if data.as_of else None,
        "loaded_at": data.as_of[1].isoformat() if data.as_of else None,
        "period": [str(d) if d else None for d in data.period.params],
        "currencies": {
            h.currency_code: {"orders": h.orders, "value": f"{h.total_value:.2f}"}
            for h in data.headline
        },
        "designs": designs,
    }


def parse_state(raw: bytes | None) -> dict[str, Any] | None:
    """A previous report's state, or None if there is none or it cannot be read."""
    if not raw:
        return None
    try:
        state = json.loads(raw)
    except ValueError:
        return None
    return state if isinstance(state, dict) and state.get("version") == STATE_VERSION else None


@dataclass(frozen=True)
class Mover:
    label: str  # as the design is named now (or was last, if it has no sales now)
    change: Decimal
    was: str | None = None  # its label in the previous report, when it was renamed since


@dataclass(frozen=True)
class CurrencyChange:
    currency_code: str
    orders: int
    value: Decimal
    movers: list[Mover]


@dataclass(frozen=True)
class Since:
    """The difference between this report and the previous one (``previous_batch`` is None
    when there was none to compare with; ``new_batch`` False when the previous one was as of
    the same batch: with no ``changes``, its figures were the same too)."""

    previous_batch: str | None
    previous_loaded_at: str | None
    same_period: bool
    changes: list[CurrencyChange]
    new_batch: bool = True


def _movers(now: dict[str, Any], before: dict[str, Any]) -> list[Mover]:
    """The designs (by id) whose sales value changed most, rises and falls alike."""
    moved = []
    for design_id in set(now) | set(before):
        new, old = now.get(design_id), before.get(design_id)
        change = Decimal(new["value"] if new else "0") - Decimal(old["value"] if old else "0")
        if not change:
            continue
        label = (new or old or {})["label"]
        was = old["label"] if new and old and old["label"] != new["label"] else None
        moved.append(Mover(label, change, was))
    return sorted(moved, key=lambda m: (-abs(m.change), m.label))[:MOVERS]


def since_previous(now: dict[str, Any], before: dict[str, Any] | None) -> Since:
    """Per currency: orders and value gained since ``before``, and the designs that moved most."""
    if before is None:
        return Since(None, None, True, [])
    same_period = before.get("period") == now["period"]
    same_batch = before.get("batch_id") == now["batch_id"]
    if same_batch and all(before.get(k) == now[k] for k in ("period", "currencies", "designs")):
        return Since(before["batch_id"], before.get("loaded_at"), same_period, [], False)
    # Same batch with other figures: a batch loaded again (a repair), or another period.
    changes = []
    for currency in sorted(set(now["currencies"]) | set(before.get("currencies", {}))):
        new = now["currencies"].get(currency, {"orders": 0, "value": "0"})
        old = before.get("currencies", {}).get(currency, {"orders": 0, "value": "0"})
        movers = _movers(
            now["designs"].get(currency, {}), before.get("designs", {}).get(currency, {})
        )
        changes.append(
            CurrencyChange(
                currency,
                int(new["orders"]) - int(old["orders"]),
                Decimal(new["value"]) - Decimal(old["value"]),
                movers,
            )
        )
    return Since(
        before.get("batch_id"), before.get("loaded_at"), same_period, changes, not same_batch
    )
