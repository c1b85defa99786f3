"""What changed since the previous report: the figures it was built from, kept beside it.

Each report writes ``report.json``: the batch it is as of, its period, and per currency its
orders, value and each design's value. The next report reads it back and shows the difference:
orders and value gained since that batch, and the designs whose sales moved most. Comparing
the totals (not re-reading facts by load time) stays right when an order is revised: a revision
moves the totals exactly as much as it moved the business.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ainsdale_etl.ops.report.data import ReportData

MOVERS = 5
STATE_VERSION = 1


def report_state(data: ReportData, datasets: dict[str, Any]) -> dict[str, Any]:
    """What this report was built from, for the next one to compare with (JSON-ready)."""
    designs: dict[str, dict[str, Decimal]] = {}
    for row in datasets["designs"]:
        by_label = designs.setdefault(row["currency_code"], {})
        by_label[row["label"]] = by_label.get(row["label"], Decimal(0)) + Decimal(row["value"])
    return {
        "version": STATE_VERSION,
        "batch_id": data.as_of[0] if data.as_of else None,
        "loaded_at": data.as_of[1].isoformat() if data.as_of else None,
        "period": [str(d) if d else None for d in data.period.params],
        "currencies": {
            h.currency_code: {"orders": h.orders, "value": f"{h.total_value:.2f}"}
            for h in data.headline
        },
        "designs": {cur: {k: f"{v:.2f}" for k, v in by.items()} for cur, by in designs.items()},
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
    label: str
    change: Decimal


@dataclass(frozen=True)
class CurrencyChange:
    currency_code: str
    orders: int
    value: Decimal
    movers: list[Mover]


@dataclass(frozen=True)
class Since:
    """The difference between this report and the previous one (``previous_batch`` is None
    when there was none to compare with)."""

    previous_batch: str | None
    previous_loaded_at: str | None
    same_period: bool
    changes: list[CurrencyChange]


def since_previous(now: dict[str, Any], before: dict[str, Any] | None) -> Since:
    """Per currency: orders and value gained since ``before``, and the designs that moved most
    (largest change first, rises and falls alike)."""
    if before is None:
        return Since(None, None, True, [])
    changes = []
    for currency in sorted(set(now["currencies"]) | set(before.get("currencies", {}))):
        new = now["currencies"].get(currency, {"orders": 0, "value": "0"})
        old = before.get("currencies", {}).get(currency, {"orders": 0, "value": "0"})
        new_designs = now["designs"].get(currency, {})
        old_designs = before.get("designs", {}).get(currency, {})
        moved = [
            Mover(
                label, Decimal(new_designs.get(label, "0")) - Decimal(old_designs.get(label, "0"))
            )
            for label in set(new_designs) | set(old_designs)
        ]
        movers = sorted((m for m in moved if m.change), key=lambda m: (-abs(m.change), m.label))
        changes.append(
            CurrencyChange(
                currency,
                int(new["orders"]) - int(old["orders"]),
                Decimal(new["value"]) - Decimal(old["value"]),
                movers[:MOVERS],
            )
        )
    return Since(
        before.get("batch_id"),
        before.get("loaded_at"),
        before.get("period") == now["period"],
        changes,
    )
