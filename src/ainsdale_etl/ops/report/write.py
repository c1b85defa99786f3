"""The report: the warehouse's story as PNG charts and one static, self-contained HTML page.

Reading (:mod:`.data`) is the only I/O on the database; the charts (:mod:`.charts`,
:mod:`.story`) and the page (:mod:`.page`) are pure functions of what was read; this module
ties them together and writes the files.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.errors import ConfigError
from ainsdale_etl.ops.report.data import INDEX, ReportResult, read_report_data
from ainsdale_etl.ops.report.page import render_html
from ainsdale_etl.ops.report.queries import Period
from ainsdale_etl.ops.report.story import build_charts

if TYPE_CHECKING:
    from ainsdale_etl.adapters.postgres import Database


def write_report(
    warehouse: Database,
    out: Path,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
) -> ReportResult:
    """Write ``out/index.html`` and one PNG per chart, from the warehouse's latest data."""
    from ainsdale_etl.ops.report.charts import SAVE_DPI

    if date_from and date_to and date_from > date_to:
        raise ConfigError(f"the report period is empty: --from {date_from} is after --to {date_to}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError("the report needs matplotlib: install 'ainsdale-etl[report]'") from None
    data = read_report_data(warehouse, Period(date_from, date_to))
    charts = build_charts(data)
    out.mkdir(parents=True, exist_ok=True)
    pngs = []
    for chart in charts:
        path = out / f"{chart.name}.png"
        chart.figure.savefig(path, dpi=SAVE_DPI)
        pngs.append(path)
    index = out / INDEX
    index.write_text(render_html(data, charts), encoding="utf-8")
    return ReportResult(index, pngs, data.headline, data.as_of)
