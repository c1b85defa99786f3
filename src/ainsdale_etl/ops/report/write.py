"""The report: the warehouse's story as one interactive page, its state, and PNGs of its charts.

Reading (:mod:`.data`) is the only I/O on the database; the datasets (:mod:`.datasets`), the
charts (:mod:`.charts`), the comparison with the previous report (:mod:`.since`) and the page
(:mod:`.page`) are pure functions of what was read; this module ties them together and writes
the files: ``index.html`` and ``report.json``, and when asked ``<chart>.<currency>.png``.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ainsdale_etl.core.errors import ConfigError
from ainsdale_etl.ops.report.data import INDEX, STATE, ReportResult, read_report_data
from ainsdale_etl.ops.report.queries import Period

if TYPE_CHECKING:
    from ainsdale_etl.adapters.postgres import Database

PNG_SCALE = 2  # pixels per CSS pixel: sharp on high-density screens and in print


def _months_text(monthly: list[dict[str, Any]], currency: str) -> str:
    """The months the cards add up at first: all of them (the script says the same when they
    change)."""
    rows = [r for r in monthly if r["currency_code"] == currency]
    labels = [
        r["month_label"] + (f" (partial: {r['partial']})" if r["partial"] else "") for r in rows
    ]
    span = labels[0] + (f" to {labels[-1]}" if len(labels) > 1 else "")
    return f"All months: {span} ({len(labels)} month{'s' if len(labels) > 1 else ''})."


def previous_state(out: Path) -> bytes | None:
    """The state the report last written to ``out`` left there, if any."""
    path = out / STATE
    return path.read_bytes() if path.is_file() else None


def _draw_pngs(out: Path, datasets: dict[str, Any]) -> tuple[list[Path], frozenset[str], list[str]]:
    """A PNG per chart and currency (for e-mail, and for the bucket a report is published to);
    returns them, the charts the renderer could not draw, and a warning for each of those."""
    import vl_convert

    from ainsdale_etl.ops.report.charts import still

    pngs: list[Path] = []
    broken: set[str] = set()
    warnings: list[str] = []
    for currency in datasets["currencies"]:
        for name, spec in still(datasets, currency).items():
            if name in broken:
                continue
            try:
                png = vl_convert.vegalite_to_png(spec, scale=PNG_SCALE)
            except ValueError as exc:
                # One chart the renderer cannot draw (text it chokes on) is left out of the
                # page and the PNGs, and said; the rest of the report is still worth it.
                broken.add(name)
                reason = str(exc).splitlines()[1:2] or [str(exc)]
                warnings.append(f"chart {name} left out: it cannot be drawn ({reason[0]})")
                continue
            path = out / f"{name}.{currency}.png"
            path.write_bytes(png)
            pngs.append(path)
    pngs = [p for p in pngs if p.name.split(".", 1)[0] not in broken]
    return pngs, frozenset(broken), warnings


def write_report(
    warehouse: Database,
    out: Path,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    previous: bytes | None = None,
    pngs: bool = False,
) -> ReportResult:
    """Write ``out/index.html`` and ``out/report.json``, and with ``pngs`` a PNG per chart and
    currency (drawing them is most of the time a report takes: only when asked).

    ``previous`` is the state of the report to compare with (default: the one in ``out``).
    """
    if date_from and date_to and date_from > date_to:
        raise ConfigError(f"the report period is empty: --from {date_from} is after --to {date_to}")
    try:
        import altair  # noqa: F401
        import vl_convert  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the report needs altair and vl-convert: install 'ainsdale-etl[report]'"
        ) from None
    from ainsdale_etl.ops.report.charts import CHART_NAMES, dashboard
    from ainsdale_etl.ops.report.datasets import dashboard_data
    from ainsdale_etl.ops.report.page import render_html, write_atomically
    from ainsdale_etl.ops.report.since import parse_state, report_state, since_previous

    before = parse_state(previous if previous is not None else previous_state(out))
    data = read_report_data(warehouse, Period(date_from, date_to))
    out.mkdir(parents=True, exist_ok=True)
    drawn: list[Path] = []
    page = since = None
    state = report_state(data)  # kept with or without sales: the page is as of its batch
    warnings: list[str] = []
    if data.has_sales:
        datasets = dashboard_data(data)
        broken: frozenset[str] = frozenset()
        if pngs:
            drawn, broken, warnings = _draw_pngs(out, datasets)
        page = {
            "spec": dashboard(datasets, broken),
            "data": {k: datasets[k] for k in ("monthly", "currencies", "default_currency")},
            "months": _months_text(datasets["monthly"], datasets["default_currency"]),
        }
        since = since_previous(state, before)
    for stale in {p for n in CHART_NAMES for p in out.glob(f"{n}.*.png")} - set(drawn):
        stale.unlink()  # of an earlier report: not of this one's figures
    index = out / INDEX
    write_atomically(index, render_html(data, page, since))
    write_atomically(out / STATE, json.dumps(state, indent=1))
    return ReportResult(index, drawn, data.headline, data.as_of, tuple(warnings))


def report_batch(out: Path) -> str | None:
    """The batch the report in ``out`` is as of, if it covers every order (None: there is
    none, none was loaded, or it is of a period: the dashboard's refresh replaces it)."""
    from ainsdale_etl.ops.report.since import parse_state

    state = parse_state(previous_state(out))
    if not state or any(state.get("period") or ()):
        return None
    return state.get("batch_id")
