"""The report's charts as Vega-Lite (altair): pure functions from the page's datasets to a chart.

Each chart is written once and drawn two ways: on the page, where it reads the page's currency
selector and the months brushed on the monthly series; and as a still PNG for e-mail
(:func:`still`), the same spec with the currency fixed and nothing brushed. Amounts in different
currencies are never added up or drawn on one axis: every chart shows one currency at a time.

Money stays exact: rows carry whole cents, which Vega adds up exactly, and every amount a
tooltip shows is written from those cents (:func:`exact`), not from a rounded float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ainsdale_etl.ops.report.datasets import DATASETS
from ainsdale_etl.ops.report.queries import TOP_N

if TYPE_CHECKING:
    import altair as alt

SALES_COLOUR = "#0072B2"  # Okabe-Ito blue: readable for colour-blind readers, prints well
PARTIAL_COLOUR = "#A3A3A3"  # grey, not a paler blue: a brush fades the months it leaves out
PAID_COLOUR = "#009E73"
OUTSTANDING_COLOUR = "#E69F00"
# The reader's own fonts, with wide coverage (CJK, emoji) wherever the system has it.
FONTS = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, '
    '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "DejaVu Sans", sans-serif, '
    '"Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji"'
)
# Plot widths (CSS pixels): one chart across the page, or two side by side, with their axis
# labels (up to 32 graphemes: labels.py) within the page's 1,116 px at a 1280 px window.
WIDE, NARROW = 840, 280
PAIR_SPACING = 40
CURRENCY, BRUSH, PICK = "currency", "brush", "country_pick"
CHART_NAMES = (
    "sales_by_month", "top_designs", "top_counterparties", "sales_by_country", "sales_by_city",
    "receipts_and_payments",
)  # fmt: skip
CONFIG: dict[str, Any] = {
    "font": FONTS,
    "title": {"anchor": "start", "fontSize": 15, "subtitleColor": "#57606a"},
    # No labelLimit: Vega would cut a label by UTF-16 code unit, through an emoji; labels
    # come shortened by grapheme instead (<field>_short, see labels.py).
    "axis": {"labelFontSize": 11, "titleFontSize": 12, "gridColor": "#e5e5e5", "labelLimit": 0},
    "legend": {"labelLimit": 0},
    "view": {"stroke": None},
}


@dataclass(frozen=True)
class Params:
    """What the charts react to: the currency shown, and on the page the brushed months and
    the country clicked (None in a still image)."""

    currency: Any
    brush: Any = None
    pick: Any = None


def exact(field: str) -> str:
    """A Vega expression writing ``datum[field]`` (whole cents) as ``GBP 1,234.50``, exactly."""
    c, a = f"datum.{field}", f"abs(datum.{field})"
    return (
        f"{CURRENCY} + ' ' + ({c} < 0 ? '-' : '') + format(({a} - {a} % 100) / 100, ',d')"
        f" + '.' + slice('0' + {a} % 100, -2)"
    )


def _title(text: str, subtitle: str) -> Any:
    import altair as alt

    # The title names the currency shown: a title can follow a parameter, a subtitle cannot.
    return alt.TitleParams(alt.ExprRef(expr=f"'{text} · ' + {CURRENCY}"), subtitle=subtitle)


def _base(dataset: str, p: Params, *, brushed: bool = True) -> alt.Chart:
    """The rows of ``dataset`` (one of the spec's named datasets, so each is in the page once)
    in the chosen currency (and, on the page, in the brushed months)."""
    import altair as alt

    chart = alt.Chart(alt.NamedData(dataset)).transform_filter(
        alt.datum.currency_code == p.currency
    )
    if brushed and p.brush is not None:
        chart = chart.transform_filter(p.brush)
    return chart


def _money(chart: alt.Chart, groupby: list[Any]) -> alt.Chart:
    """Sum orders, units and cents by ``groupby``; ``amount`` is the exact text of the sum."""
    return chart.transform_aggregate(
        orders="sum(orders)", units="sum(units)", cents="sum(cents)", groupby=groupby
    ).transform_calculate(value="datum.cents / 100", amount=exact("cents"))


def _top(chart: alt.Chart, label: str) -> alt.Chart:
    import altair as alt

    return chart.transform_window(
        rank="row_number()",
        sort=[alt.SortField("cents", order="descending"), alt.SortField(label)],
    ).transform_filter(alt.datum.rank <= TOP_N)


def _value_axis(title: str) -> Any:
    import altair as alt

    return alt.X("value:Q", title=title, axis=alt.Axis(format=",.0f", tickCount=4))


def _utc(ms: int) -> dict[str, Any]:
    from datetime import UTC, datetime

    day = datetime.fromtimestamp(ms / 1000, UTC)
    return {"year": day.year, "month": day.month, "date": day.day, "utc": True}


def monthly(p: Params, months: tuple[int, int]) -> alt.Chart:
    """Sales value by month: the series the reader brushes to choose the months."""
    import altair as alt

    colour = alt.Color(
        "kind:N",
        title=None,
        scale=alt.Scale(domain=["Whole month", "Partial month"],
                        range=[SALES_COLOUR, PARTIAL_COLOUR]),
        legend=alt.Legend(orient="top"),  # above the plot: inside it, it covered the first bars
    )  # fmt: skip
    domain = [alt.DateTime(**_utc(ms)) for ms in months]  # every currency on one time axis
    chart = (
        _base("monthly", p, brushed=False)
        .transform_calculate(
            value="datum.cents / 100",
            amount=exact("cents"),
            kind="datum.partial ? 'Partial month' : 'Whole month'",
        )
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=alt.X("month:T", title=None, scale=alt.Scale(type="utc", domain=domain),
                    axis=alt.Axis(format="%b %Y", labelAngle=0, tickCount="month")),
            x2="month_end:T",
            y=alt.Y("value:Q", title="Sales value", axis=alt.Axis(format=",.0f")),
            y2=alt.datum(0),
            color=colour,
            tooltip=[
                alt.Tooltip("month_label:N", title="Month"),
                alt.Tooltip("amount:N", title="Sales value"),
                alt.Tooltip("orders:Q", title="Orders", format=",d"),
                alt.Tooltip("units:Q", title="Units", format=",d"),
                alt.Tooltip("partial:N", title="Partial month"),
            ],
        )
        .properties(width=WIDE, height=220,
                    title=_title("Sales by month", "drag across months to filter the charts below"),
                    description="Bar chart of sales value by month in the chosen currency.")
    )  # fmt: skip
    if p.brush is not None:
        chart = chart.add_params(p.brush).encode(
            opacity=alt.condition(p.brush, alt.value(1.0), alt.value(0.35))
        )
    return chart


def ranked(dataset: str, p: Params, title: str, what: str) -> alt.Chart:
    """The top ``TOP_N`` of ``label`` by sales value, over the chosen months."""
    import altair as alt

    return (
        _top(_money(_base(dataset, p), ["label", "label_short"]), "label")
        .mark_bar(color=SALES_COLOUR)
        .encode(
            y=alt.Y("label_short:N", sort="-x", title=None),
            x=_value_axis("Sales value"),
            tooltip=[alt.Tooltip("label:N", title=what), alt.Tooltip("amount:N", title="Sales"),
                     alt.Tooltip("orders:Q", title="Orders", format=",d"),
                     alt.Tooltip("units:Q", title="Units", format=",d")],
        )
        .properties(width=NARROW, height=alt.Step(22), title=_title(title, "sales value"),
                    description=f"Bar chart of the {title[0].lower()}{title[1:]}.")
    )  # fmt: skip


def countries(p: Params) -> alt.Chart:
    """Sales by delivery country; on the page, a click on a country drills into its cities."""
    import altair as alt

    chart = (
        _top(_money(_base("places", p), ["country", "country_short"]), "country")
        .mark_bar(color=SALES_COLOUR, cursor="pointer")
        .encode(
            y=alt.Y("country_short:N", sort="-x", title=None),
            x=_value_axis("Sales value"),
            tooltip=[alt.Tooltip("country:N", title="Country"),
                     alt.Tooltip("amount:N", title="Sales"),
                     alt.Tooltip("orders:Q", title="Orders", format=",d")],
        )
        .properties(width=NARROW, height=alt.Step(22),
                    title=_title("Sales by delivery country", "click a country for its cities"),
                    description="Bar chart of sales value by delivery country.")
    )  # fmt: skip
    if p.pick is not None:
        chart = chart.add_params(p.pick).encode(
            opacity=alt.condition(p.pick, alt.value(1.0), alt.value(0.35))
        )
    return chart


def cities(p: Params) -> alt.Chart:
    """Sales by delivery city: of the country clicked, else of all countries."""
    import altair as alt

    chart = _base("places", p)
    if p.pick is not None:
        chart = chart.transform_filter(p.pick)
    return (
        _top(_money(chart, ["country", "city", "country_short", "city_short"]), "city")
        .transform_calculate(place="datum.city + ', ' + datum.country",
                             place_short="datum.city_short + ', ' + datum.country_short")
        .mark_bar(color=SALES_COLOUR)
        .encode(
            y=alt.Y("place_short:N", sort="-x", title=None),
            x=_value_axis("Sales value"),
            tooltip=[alt.Tooltip("place:N", title="City"), alt.Tooltip("amount:N", title="Sales"),
                     alt.Tooltip("orders:Q", title="Orders", format=",d")],
        )
        .properties(width=NARROW, height=alt.Step(22),
                    title=_title(f"Top {TOP_N} delivery cities", "of the country clicked, or all"),
                    description="Bar chart of sales value by delivery city.")
    )  # fmt: skip


def cash(p: Params) -> alt.Chart:
    """Receipts from customers and payments to suppliers, each paid and outstanding: money in
    and money out, never added together."""
    import altair as alt

    colour = alt.Color("status:N", title=None, legend=alt.Legend(orient="top"), scale=alt.Scale(
        domain=["Paid", "Outstanding"], range=[PAID_COLOUR, OUTSTANDING_COLOUR]))  # fmt: skip
    return (
        _base("cash", p)
        .transform_aggregate(payments="sum(payments)", cents="sum(cents)",
                             groupby=["direction", "status"])
        .transform_calculate(value="datum.cents / 100", amount=exact("cents"))
        .mark_bar()
        .encode(
            y=alt.Y("direction:N", title=None, sort=["Receipts from customers"]),
            yOffset=alt.YOffset("status:N", sort=["Paid", "Outstanding"]),
            x=_value_axis("Amount"),
            color=colour,
            tooltip=[alt.Tooltip("direction:N", title="Money"),
                     alt.Tooltip("status:N", title="Status"),
                     alt.Tooltip("amount:N", title="Amount"),
                     alt.Tooltip("payments:Q", title="Payments", format=",d")],
        )
        .properties(width=WIDE, height=120,
                    title=_title("Receipts and payments to suppliers", "paid and outstanding"),
                    description="Bar chart of receipts from customers and payments to "
                    "suppliers, each paid and outstanding.")
    )  # fmt: skip


def build_charts(datasets: dict[str, Any], p: Params) -> dict[str, alt.Chart]:
    """Every chart of the page, by the file stem of its PNG, in the page's order."""
    rows = datasets["monthly"]
    months = (min(r["month"] for r in rows), max(r["month_end"] for r in rows))
    return {
        "sales_by_month": monthly(p, months),
        "top_designs": ranked("designs", p, f"Top {TOP_N} designs", "Design"),
        "top_counterparties": ranked(
            "counterparties", p, f"Top {TOP_N} counterparties", "Counterparty"
        ),
        "sales_by_country": countries(p),
        "sales_by_city": cities(p),
        "receipts_and_payments": cash(p),
    }


def _spec(chart: Any, datasets: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = chart.configure(**CONFIG).to_dict()
    spec["datasets"] = {name: datasets[name] for name in DATASETS}
    return spec


def dashboard(datasets: dict[str, Any], leave_out: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The page's one Vega-Lite spec: every chart but those in ``leave_out`` (ones that could
    not be drawn), linked by the currency and the brush."""
    import altair as alt

    p = Params(
        currency=alt.param(name=CURRENCY, value=datasets["default_currency"]),
        # The brush lives on the monthly chart, the pick on the countries': without the
        # chart, nothing to link by.
        brush=None
        if "sales_by_month" in leave_out
        else alt.selection_interval(name=BRUSH, encodings=["x"]),
        pick=None
        if "sales_by_country" in leave_out
        else alt.selection_point(name=PICK, fields=["country"]),
    )
    c = {n: chart for n, chart in build_charts(datasets, p).items() if n not in leave_out}
    layout = (
        ("sales_by_month",),
        ("top_designs", "top_counterparties"),
        ("sales_by_country", "sales_by_city"),
        ("receipts_and_payments",),
    )
    rows = [[c[n] for n in row if n in c] for row in layout]
    page = (
        alt.vconcat(
            *(
                row[0] if len(row) == 1 else alt.hconcat(*row, spacing=PAIR_SPACING)
                for row in rows
                if row
            ),
            spacing=36,
        )
        .add_params(p.currency)
        .resolve_scale(color="independent")
    )
    return _spec(page, datasets)


def still(datasets: dict[str, Any], currency: str) -> dict[str, dict[str, Any]]:
    """Each chart's spec as a still image of ``currency``: the page's charts, unbrushed."""
    import altair as alt

    param = alt.param(name=CURRENCY, value=currency)
    return {
        name: _spec(chart.add_params(param), datasets)
        for name, chart in build_charts(datasets, Params(currency=param)).items()
    }
