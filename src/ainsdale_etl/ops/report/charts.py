"""The report's charts: pure functions from a query's DataFrame to a matplotlib Figure.

Amounts in different currencies are never added up or drawn on one axis: every money chart has
one panel per currency, and each axis names its currency and scale. Money is converted to float
here, for drawing only; the figures printed in the report stay exact Decimals.
"""

from __future__ import annotations

import textwrap
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

SALES_COLOUR = "#0072B2"  # Okabe-Ito blue: readable for colour-blind readers, prints well
PURCHASES_COLOUR = "#D55E00"  # Okabe-Ito vermilion
PAID_COLOUR = "#009E73"
OUTSTANDING_COLOUR = "#E69F00"
PANEL_WIDTH = 3.6  # inches per currency panel: three fit the page at about their natural size
DPI = 100  # layout pixels per inch: the size the page shows a chart at
SAVE_DPI = 200  # pixels per inch in the PNG: sharp on high-density screens and in print

_STYLE: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "figure.titlesize": 13,
    "figure.titleweight": "bold",
    "legend.frameon": False,
}


def _style() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    return matplotlib.rc_context(_STYLE)


def _panels(title: str, count: int, height: float) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    width = max(PANEL_WIDTH * count, 6.0)
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, count, squeeze=False)[0]
    fig.suptitle(title)
    return fig, list(axes)


def money_scale(largest: float) -> tuple[float, str]:
    """The divisor and its name that keep tick labels short (1,250 thousand, not 1250000)."""
    if largest >= 10_000_000:
        return 1_000_000.0, " millions"
    if largest >= 10_000:
        return 1_000.0, " thousands"
    return 1.0, ""


def _money_axis(axis: Any, currency: str, largest: float, what: str) -> float:
    """Format ``axis`` as money in ``currency``, labelled with units; returns the divisor."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    divisor, unit = money_scale(largest)
    decimals = 2 if largest < 10 else 0
    axis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value / divisor:,.{decimals}f}"))
    axis.set_label_text(f"{what} ({currency}{unit})")
    return divisor


def _wrap(label: str, width: int = 22) -> str:
    """A long name on at most two lines, keeping its end (which often tells names apart)."""
    lines = textwrap.wrap(label, width)
    if len(lines) <= 2:
        return "\n".join(lines)
    return f"{lines[0]}\n…{label[-(width - 1) :].lstrip()}"


def _short_money(value: float, divisor: float) -> str:
    """A bar's value on the axis's scale: whole units unless that would round it to nothing."""
    if divisor > 1:
        return f"{value / divisor:,.1f}"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def _floats(frame: pl.DataFrame, column: str) -> list[float]:
    import polars as pl

    return frame[column].cast(pl.Float64).to_list()


def _currencies(frame: pl.DataFrame) -> list[str]:
    return sorted(frame["currency_code"].unique().to_list())


def _month_axis(ax: Axes, months: list[date]) -> None:
    """Label the months of a bar chart: every 1, 2, 3, 6 or 12 months, at most 5 labels."""
    step = next((n for n in (1, 2, 3, 6) if len(months) <= 5 * n), 12)
    ticks = range(0, len(months), step)
    ax.set_xticks(list(ticks), [f"{months[i]:%b}\n{months[i]:%Y}" for i in ticks])
    ax.set_xlabel("Month the order was created")
    ax.grid(axis="x", visible=False)


def monthly_bars(frame: pl.DataFrame, title: str, series: dict[str, tuple[str, str]]) -> Figure:
    """One panel per currency; a bar per month for each ``series`` column ({column: (legend,
    colour)}). Every panel spans the same months, so they line up."""
    import polars as pl

    months: list[date] = sorted(frame["month"].unique().to_list())
    width = 0.8 / len(series)
    with _style():
        currencies = _currencies(frame)
        fig, axes = _panels(title, len(currencies), 3.8)
        for ax, currency in zip(axes, currencies, strict=True):
            rows = frame.filter(pl.col("currency_code") == currency)
            largest = 0.0
            for i, (column, (legend, colour)) in enumerate(series.items()):
                by_month = dict(zip(rows["month"].to_list(), _floats(rows, column), strict=True))
                values = [by_month.get(m, 0.0) for m in months]
                largest = max([largest, *values])
                offsets = [m + (i - (len(series) - 1) / 2) * width for m in range(len(months))]
                ax.bar(offsets, values, width=width, color=colour, label=legend)
            ax.set_title(currency)
            _money_axis(ax.yaxis, currency, largest, "Value")
            _month_axis(ax, months)
        if len(series) > 1:
            handles, labels = axes[0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="outside lower center", ncols=len(series))
        return fig


def ranked_bars(
    frame: pl.DataFrame, title: str, what: str, colours: str | list[str] = SALES_COLOUR
) -> Figure:
    """One panel per currency of horizontal bars, ``label`` against ``value``, in frame order."""
    import polars as pl

    with _style():
        currencies = _currencies(frame)
        tallest = max(frame.group_by("currency_code").len()["len"].to_list())
        fig, axes = _panels(title, len(currencies), 1.4 + 0.42 * tallest)
        for ax, currency in zip(axes, currencies, strict=True):
            rows = frame.filter(pl.col("currency_code") == currency)
            labels = [_wrap(str(s)) for s in rows["label"]]
            values = _floats(rows, "value")
            bars = ax.barh(range(len(values)), values, color=colours, height=0.65)
            ax.set_yticks(range(len(values)), labels)
            ax.invert_yaxis()
            ax.set_ylim(tallest - 0.5, -0.5)  # equal bar thickness across panels
            ax.grid(axis="y", visible=False)
            ax.set_title(currency)
            largest = max(values, default=0.0)
            divisor = _money_axis(ax.xaxis, currency, largest, what)
            ax.bar_label(bars, [_short_money(v, divisor) for v in values], padding=3, fontsize=9)
            ax.set_xlim(0, largest * 1.18 or 1)  # room for the value labels
        return fig
