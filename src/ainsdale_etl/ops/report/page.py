"""The page: one self-contained HTML file, the dashboard with its JavaScript inlined.

Nothing on it is fetched or linked: Vega, Vega-Lite and vega-embed are inlined, the data is in
the page and the charts are drawn from it, so the file alone opens offline, copied anywhere, from
a folder or from an S3 object alike. Without JavaScript it still shows the headline of its
default currency and the exact tables.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from functools import cache
from html import escape
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ainsdale_etl.ops.report.charts import FONTS
from ainsdale_etl.ops.report.queries import TOP_N
from ainsdale_etl.ops.report.text import loaded_text, money, period_text

if TYPE_CHECKING:
    import polars as pl

    from ainsdale_etl.ops.report.data import CurrencyHeadline, ReportData
    from ainsdale_etl.ops.report.since import Mover, Since

TITLE = "Ainsdale sales dashboard"
_CSS = """
:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0072b2; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 FONTS; color: var(--ink); background: #f6f8fa; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { margin: 0 0 4px; font-size: 1.9rem; }
h2 { margin: 36px 0 8px; padding-top: 16px; border-top: 1px solid var(--line); font-size: 1.3rem; }
.asof, .note { color: var(--muted); margin: 0 0 8px; }
.note { font-size: 0.92rem; }
.controls { display: flex; gap: 12px; align-items: center; margin: 16px 0; }
select { font: inherit; padding: 4px 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 16px; }
.card { min-width: 0; border: 1px solid var(--line); border-left: 5px solid var(--accent);
        border-radius: 6px; padding: 12px 16px; }
.card.wide { grid-column: span 2; }
.card h3 { margin: 0; font-size: 0.95rem; color: var(--muted); font-weight: 600; }
/* A large total (GBP 618,614,544,254.63) never overflows its card: the script shrinks it to
   fit on one line; without the script it wraps. */
.card .big { margin: 4px 0 0; font-weight: 700; font-variant-numeric: tabular-nums;
             font-size: 1.7rem; line-height: 1.25; overflow-wrap: anywhere; }
.fitted .card .big { white-space: nowrap; overflow-wrap: normal; }
@media (max-width: 560px) { .card.wide { grid-column: auto; } }
#months { margin: 8px 0 0; }
.since table, .tables table { border-collapse: collapse; margin: 8px 0 16px; min-width: 50%;
                              font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: 6px; }
th, td { padding: 4px 12px; border-bottom: 1px solid var(--line); text-align: left; }
thead th { border-bottom: 2px solid var(--ink); }
tbody th[scope="row"] { font-weight: normal; }
.num { text-align: right; }
.up { color: #1a7f37; } .down { color: #cf222e; }
/* A block (vega-embed makes it inline-block, as wide as its charts): in a narrow window the
   charts scroll within it, never the page. */
#dashboard { display: block; max-width: 100%; margin-top: 8px; overflow-x: auto; }
.empty { padding: 24px; border: 2px dashed var(--line); border-radius: 6px; font-size: 1.1rem; }
[hidden] { display: none !important; }
""".replace("FONTS", FONTS)


def write_atomically(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a reader (a browser, a publish, the next report)
    never meets half a file, and two writers at once (a refresh beside `report --out`) each
    write a file of their own first, so neither moves the other's half-written one."""
    import tempfile

    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    part = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        part.replace(path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _bundle_cache(version: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ainsdale-etl" / f"vega-bundle-{version}.js"


@cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (from vl-convert: no network, no CDN).

    vl-convert bundles it anew on each call (1.1 s, a third of the report's time): the same
    text for the same version, so it is kept in the user's cache and bundled once per version.
    """
    import vl_convert

    cached = _bundle_cache(str(getattr(vl_convert, "__version__", "unknown")))
    try:
        return cached.read_text(encoding="utf-8")
    except OSError:
        pass
    # Inside <script>, only "</script" could end it early; "<\\/" means the same in JavaScript.
    bundle = str(vl_convert.javascript_bundle())  # type: ignore[call-arg]  # its stub omits the default
    bundle = bundle.replace("</script", "<\\/script")
    try:  # atomically: two reports at once never read half a bundle
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(cached, bundle)
    except OSError:
        pass  # a read-only home: bundled again next time, no worse than before
    return bundle


def _json_script(element_id: str, value: Any) -> str:
    # JSON inside <script> must not hold "<": "\\u003c" is the same character to JSON.parse.
    text = json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _as_of_text(data: ReportData) -> str:
    if data.as_of is None:
        return "No batch has been loaded into the warehouse yet."
    batch_id, loaded_at = data.as_of
    return f"Data as of batch <code>{escape(batch_id)}</code>, loaded {loaded_text(loaded_at)}."


def _cards(h: CurrencyHeadline) -> str:
    cur = h.currency_code
    figures = (
        ("value", "Sales value", money(h.total_value, cur)),
        ("orders", "Orders", f"{h.orders:,}"),
        ("units", "Units sold", f"{h.units:,}"),
        ("average", "Average order", money(h.average_order_value, cur)),
    )
    cards = "".join(
        f'<section class="card{" wide" if key == "value" else ""}"><h3>{label}</h3>'
        f'<p class="big" id="card-{key}">{escape(text)}</p></section>'
        for key, label, text in figures
    )
    return f'<div class="cards" aria-live="polite">{cards}</div>'


def _change(value: Any, currency: str | None = None) -> str:
    text = money(value, currency) if currency else f"{value:,}"
    sign, css = ("+", "up") if value > 0 else ("", "down" if value < 0 else "")
    return f'<span class="{css}">{escape(sign + text)}</span>'


def _loaded(iso: str | None) -> str:
    return f", loaded {escape(loaded_text(datetime.fromisoformat(iso)))}" if iso else ""


def _mover(m: Mover, currency: str) -> str:
    was = f' <span class="note">(was {escape(m.was)})</span>' if m.was else ""
    return (
        f'<tr><th scope="row">{escape(m.label)}{was}</th>'
        f'<td class="num">{_change(m.change, currency)}</td></tr>'
    )


def _since(since: Since, shown: str) -> str:
    if since.previous_batch is None:
        return (
            '<p class="note">This is the first report built here: the next one will say what '
            "changed since this one.</p>"
        )
    batch = f"<code>{escape(since.previous_batch)}</code>"
    when = _loaded(since.previous_loaded_at)
    if not since.new_batch and not since.changes:
        # Nothing to compare: the same batch's figures, said as such (not "+0 orders").
        return f'<p id="since-batch">No new batch since {batch}{when}.</p>'
    head = (
        f'<p id="since-batch">Since the previous report (batch {batch}{when}):</p>'
        if since.new_batch
        else f'<p id="since-batch">No new batch since {batch}{when}, but the figures changed '
        "(a batch loaded again, or another period):</p>"
    )
    if not since.same_period:
        head += '<p class="note">The previous report covered another period.</p>'
    blocks = []
    for c in since.changes:
        cur = c.currency_code
        movers = (
            "".join(_mover(m, cur) for m in c.movers)
            or '<tr><td colspan="2">No design moved.</td></tr>'
        )
        blocks.append(
            f'<div data-currency="{escape(cur)}"{"" if cur == shown else " hidden"}>'
            f"<p>{_change(c.orders)} orders, {_change(c.value, cur)} of sales in {escape(cur)}.</p>"
            f"<table><caption>Top movers: designs whose sales value changed most ({escape(cur)})"
            '</caption><thead><tr><th scope="col">Design</th><th scope="col" class="num">'
            f"Change</th></tr></thead><tbody>{movers}</tbody></table></div>"
        )
    return head + "".join(blocks)


def _ranking_table(frame: pl.DataFrame, caption: str, label: str, shown: str) -> str:
    """A top-N table of each currency (only the one shown is visible): exact values."""
    head = "".join(
        f'<th scope="col"{cls}>{name}</th>'
        for name, cls in (("Rank", ' class="num"'), (escape(label), ""), ("Orders", ' class="num"'),
                          ("Units", ' class="num"'), ("Sales value", ' class="num"'))
    )  # fmt: skip
    bodies = []
    for (currency,), rows in frame.partition_by("currency_code", as_dict=True).items():
        cur = str(currency)
        lines = "".join(
            f'<tr><td class="num">{r["rank"]}</td><th scope="row">{escape(str(r["label"]))}</th>'
            f'<td class="num">{r["orders"]:,}</td><td class="num">{r["units"]:,}</td>'
            f'<td class="num">{escape(money(r["value"], cur))}</td></tr>'
            for r in rows.iter_rows(named=True)
        )
        hidden = "" if cur == shown else " hidden"
        bodies.append(f'<tbody data-currency="{escape(cur)}"{hidden}>{lines}</tbody>')
    return (
        f"<table><caption>{escape(caption)}</caption>"
        f"<thead><tr>{head}</tr></thead>{''.join(bodies)}</table>"
    )


def _tables(data: ReportData, shown: str) -> str:
    f = data.frames
    return "".join(
        _ranking_table(f[name], f"Top {TOP_N} {what} by sales value", label, shown)
        for name, what, label in (
            ("top_designs", "designs", "Design (#id)"),
            ("sales_by_city", "delivery cities", "City, country"),
            ("top_counterparties", "counterparties", "Counterparty"),
            ("top_staff", "staff members", "Staff member (department)"),
        )
    )


def _body(data: ReportData, page: dict[str, Any], since: Since) -> str:
    shown = page["data"]["default_currency"]
    currencies = page["data"]["currencies"]
    options = "".join(
        f'<option value="{escape(c)}"{" selected" if c == shown else ""}>{escape(c)}</option>'
        for c in currencies
    )
    headline = next(h for h in data.headline if h.currency_code == shown)
    return f"""<div class="controls"><label for="currency">Currency</label>
<select id="currency">{options}</select>
<span class="note">Amounts in different currencies are never added together.</span></div>
{_cards(headline)}
<p id="months" class="note">{escape(page["months"])}</p>
<h2>Since the previous report</h2>
<div class="since">{_since(since, shown)}</div>
<h2>Explore</h2>
<p class="note">Drag across months on the first chart to filter the others (double-click to
clear); click a country to see its cities. Hover a bar for its exact amount. Each order counts
once, at its latest version. The <b>…</b> menu saves the charts as PNG or SVG.</p>
<noscript><p class="empty">The charts are drawn by the page's script: allow JavaScript to see
them. The exact figures below need none.</p></noscript>
<div id="dashboard" role="figure" aria-label="Interactive charts"></div>
{_json_script("report-spec", page["spec"])}
{_json_script("report-data", page["data"])}
<h2>Exact figures</h2>
<div class="tables">{_tables(data, shown)}</div>"""


def render_html(data: ReportData, page: dict[str, Any] | None, since: Since | None) -> str:
    """The page: ``page`` holds the dashboard's spec, data and months text (None: no sales)."""
    if data.has_sales and page is not None and since is not None:
        body = _body(data, page, since)
        scripts = f"<script>{vega_bundle()}</script>\n<script>{_script()}</script>"
    elif data.as_of is None:
        body = (
            '<p class="empty">There is no data in the warehouse yet. Run the pipeline to load '
            "a batch, then build this report again.</p>"
        )
        scripts = ""
    else:
        body = f'<p class="empty">No sales orders match: {escape(period_text(data.period))}.</p>'
        scripts = ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{TITLE}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>{TITLE}</h1>
<p class="asof">{_as_of_text(data)} Covers {escape(period_text(data.period))}.</p>
{body}
</main>
{scripts}
</body>
</html>
"""


@cache
def _script() -> str:
    return resources.files(__package__).joinpath("dashboard.js").read_text(encoding="utf-8")
