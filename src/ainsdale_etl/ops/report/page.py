"""The page: one static, self-contained HTML file around the charts."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING

from ainsdale_etl.ops.report.data import Chart, CurrencyHeadline, ReportData
from ainsdale_etl.ops.report.queries import TOP_N, Period
from ainsdale_etl.ops.report.story import day_text, money

if TYPE_CHECKING:
    import polars as pl


_CSS = """
:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0072b2; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
       sans-serif; color: var(--ink); background: #f6f8fa; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { margin: 0 0 4px; font-size: 1.9rem; }
h2 { margin: 40px 0 8px; padding-top: 16px; border-top: 1px solid var(--line); font-size: 1.35rem; }
h3 { margin: 0 0 8px; font-size: 1.05rem; color: var(--muted); }
.asof { margin: 0; color: var(--muted); }
.note { color: var(--muted); font-size: 0.92rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); gap: 16px; }
.card { border: 1px solid var(--line); border-left: 5px solid var(--accent); border-radius: 6px;
        padding: 14px 18px; }
.card .big { font-size: 1.6rem; font-weight: 700; margin: 0; }
.card dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; margin: 8px 0 0; }
.card dt { color: var(--muted); }
.card dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 12px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 0.92rem; }
table { border-collapse: collapse; margin: 12px 0; min-width: 60%;
        font-variant-numeric: tabular-nums; }
tbody th[scope="row"] { font-weight: normal; }
caption { text-align: left; font-weight: 600; padding-bottom: 6px; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: left; }
thead th { border-bottom: 2px solid var(--ink); }
th[scope="rowgroup"] { background: #eef3f8; }
.num { text-align: right; }
.empty { padding: 24px; border: 2px dashed var(--line); border-radius: 6px; font-size: 1.1rem; }
"""


def _period_text(period: Period) -> str:
    if period.date_from and period.date_to:
        return f"orders created from {day_text(period.date_from)} to {day_text(period.date_to)}"
    if period.date_from:
        return f"orders created on or after {day_text(period.date_from)}"
    if period.date_to:
        return f"orders created on or before {day_text(period.date_to)}"
    return "all orders in the warehouse"


def _as_of_text(as_of: tuple[str, datetime] | None) -> str:
    if as_of is None:
        return "No batch has been loaded into the warehouse yet."
    batch_id, loaded_at = as_of
    when = loaded_at.astimezone(UTC)
    loaded = f"{day_text(when)} at {when:%H:%M} UTC"
    return f"Data as of batch <code>{escape(batch_id)}</code>, loaded {loaded}."


def _cards(headline: list[CurrencyHeadline]) -> str:
    cards = []
    for h in headline:
        cur = h.currency_code
        cards.append(
            f'<section class="card" aria-label="{escape(cur)} headline figures">'
            f"<h3>Sales in {escape(cur)}</h3>"
            f'<p class="big">{escape(money(h.total_value, cur))}</p>'
            f"<dl><dt>Orders</dt><dd>{h.orders:,}</dd>"
            f"<dt>Units sold</dt><dd>{h.units:,}</dd>"
            f"<dt>Average order</dt><dd>{escape(money(h.average_order_value, cur))}</dd></dl>"
            "</section>"
        )
    sentences = " ".join(
        f"In {escape(h.currency_code)}, {h.orders:,} orders for {h.units:,} units were worth "
        f"{escape(money(h.total_value, h.currency_code))}, an average of "
        f"{escape(money(h.average_order_value, h.currency_code))} per order."
        for h in headline
    )
    return f'<div class="cards">{"".join(cards)}</div>\n<p>{sentences}</p>'


def _figure(chart: Chart) -> str:
    width, height = chart.size
    return (
        f'<figure><img src="{escape(chart.name)}.png" alt="{escape(chart.alt)}" '
        f'width="{width}" height="{height}">'
        f"<figcaption>{escape(chart.findings)}</figcaption></figure>"
    )


def _ranking_table(frame: pl.DataFrame, caption: str, label: str) -> str:
    """A top-N table grouped by currency: rank, name, orders, units, exact value."""
    head = "".join(
        f'<th scope="col"{cls}>{name}</th>'
        for name, cls in (("Rank", ' class="num"'), (escape(label), ""), ("Orders", ' class="num"'),
                          ("Units", ' class="num"'), ("Sales value", ' class="num"'))
    )  # fmt: skip
    bodies = []
    for (currency,), rows in frame.partition_by("currency_code", as_dict=True).items():
        lines = [f'<tr><th scope="rowgroup" colspan="5">{escape(str(currency))}</th></tr>']
        lines += [
            f'<tr><td class="num">{r["rank"]}</td><th scope="row">{escape(str(r["label"]))}</th>'
            f'<td class="num">{r["orders"]:,}</td><td class="num">{r["units"]:,}</td>'
            f'<td class="num">{escape(money(r["value"], str(currency)))}</td></tr>'
            for r in rows.iter_rows(named=True)
        ]
        bodies.append(f"<tbody>{''.join(lines)}</tbody>")
    return (
        f"<table><caption>{escape(caption)}</caption>"
        f"<thead><tr>{head}</tr></thead>{''.join(bodies)}</table>"
    )


def _payments_table(frame: pl.DataFrame) -> str:
    rows = "".join(
        f'<tr><th scope="row">{escape(r["currency_code"])}</th>'
        f'<td class="num">{r["paid_count"]:,}</td>'
        f'<td class="num">{escape(money(r["paid"], r["currency_code"]))}</td>'
        f'<td class="num">{r["outstanding_count"]:,}</td>'
        f'<td class="num">{escape(money(r["outstanding"], r["currency_code"]))}</td></tr>'
        for r in frame.iter_rows(named=True)
    )
    return (
        "<table><caption>Payments by status (latest version of each payment)</caption><thead><tr>"
        '<th scope="col">Currency</th><th scope="col" class="num">Paid payments</th>'
        '<th scope="col" class="num">Paid amount</th><th scope="col" class="num">Outstanding '
        'payments</th><th scope="col" class="num">Outstanding amount</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _sections(data: ReportData, charts: dict[str, Chart]) -> list[str]:
    f = data.frames
    sections = [
        "<h2>Headline figures</h2>" + _cards(data.headline)
        + '<p class="note">Each order counts once, at its latest version. Amounts are in the '
        "order's own currency; different currencies are never added together.</p>",
        "<h2>Sales by month</h2>" + _figure(charts["sales_by_month"]),
        f"<h2>Top {TOP_N} designs</h2>" + _figure(charts["top_designs"])
        + _ranking_table(f["top_designs"], f"Top {TOP_N} designs by sales value", "Design"),
        "<h2>Where sales are delivered</h2>" + _figure(charts["sales_by_country"])
        + _ranking_table(f["sales_by_city"], f"Top {TOP_N} delivery cities by sales value",
                         "City, country"),
        f"<h2>Top {TOP_N} counterparties</h2>" + _figure(charts["top_counterparties"])
        + _ranking_table(f["top_counterparties"], f"Top {TOP_N} counterparties by sales value",
                         "Counterparty"),
        "<h2>Sales by staff and department</h2>" + _figure(charts["sales_by_department"])
        + _ranking_table(f["top_staff"], f"Top {TOP_N} staff members by sales value",
                         "Staff member (department)"),
    ]  # fmt: skip
    if "purchases_vs_sales" in charts:
        sections.append("<h2>Purchases vs sales</h2>" + _figure(charts["purchases_vs_sales"]))
    if "payments" in charts:
        sections.append(
            "<h2>Payments: paid vs outstanding</h2>" + _figure(charts["payments"])
            + _payments_table(f["payments_status"])
        )  # fmt: skip
    return sections


def render_html(data: ReportData, charts: list[Chart]) -> str:
    """The report page: self-contained (inline CSS, relative image links, no scripts)."""
    if data.has_sales:
        body = "\n".join(_sections(data, {c.name: c for c in charts}))
    elif data.as_of is None:
        body = (
            '<p class="empty">There is no data in the warehouse yet. Run the pipeline to load '
            "a batch, then build this report again.</p>"
        )
    else:
        body = f'<p class="empty">No sales orders match: {escape(_period_text(data.period))}.</p>'
    title = "Ainsdale sales report"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p class="asof">{_as_of_text(data.as_of)} Covers {escape(_period_text(data.period))}.</p>
{body}
</main>
</body>
</html>
"""
