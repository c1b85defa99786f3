"""``python -m bench.scaling``: how cost grows with the data, from the committed results.

Reads every ``bench/results/scale-<N>.json``, prints a markdown table (seconds and peak RSS of
run-all against source rows, beside the COPY limit and the naive pipeline, and run-all's time
per million rows against the SCALE=100 figure) and draws ``bench/results/scaling.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE_SCALE = 100  # time per row is judged against this scale's (issue #22)
MAX_PER_ROW_DRIFT = 0.10


def load(folder: Path) -> list[dict[str, Any]]:
    runs = [json.loads(p.read_text()) for p in folder.glob("scale-*.json")]
    return sorted(runs, key=lambda r: r["scale"])


def points(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per scale: what the table and the chart show."""
    rows = []
    for r in runs:
        stages = r["stages"]
        source_rows = stages["run_all"]["rows"]
        naive = stages.get("naive_total")
        rows.append(
            {
                "scale": r["scale"],
                "rows": source_rows,
                "run_all_s": stages["run_all"]["seconds"],
                "copy_limit_s": stages["copy_limit"]["seconds"],
                "naive_s": naive["seconds"] if naive else None,
                "run_all_mb": stages["run_all"]["peak_rss_mb"],
                "naive_mb": naive["peak_rss_mb"] if naive else None,
                "per_million_s": stages["run_all"]["seconds"] / source_rows * 1e6,
                "load_average": r["machine"]["load_average_at_start"][0],
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    reference = next((p for p in rows if p["scale"] == REFERENCE_SCALE), None)
    lines = [
        "| scale | source rows | run-all s | s per M rows | vs scale 100 | COPY limit s | "
        "naive s | run-all peak MB | naive peak MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in rows:
        drift = f"{p['per_million_s'] / reference['per_million_s'] - 1:+.0%}" if reference else ""
        naive_s = f"{p['naive_s']:.1f}" if p["naive_s"] is not None else "not run"
        naive_mb = f"{p['naive_mb']:,.0f}" if p["naive_mb"] is not None else ""
        lines.append(
            f"| {p['scale']:g} | {p['rows']:,} | {p['run_all_s']:.2f} | "
            f"{p['per_million_s']:.2f} | {drift} | {p['copy_limit_s']:.2f} | {naive_s} | "
            f"{p['run_all_mb']:,.0f} | {naive_mb} |"
        )
    return "\n".join(lines) + "\n"


def chart(rows: list[dict[str, Any]], out: Path) -> None:
    """Seconds and peak MB against source rows: ours, the COPY limit, the naive pipeline."""
    import altair as alt
    import vl_convert

    series = [
        ("ours: run-all", "run_all_s", "run_all_mb"),
        ("COPY limit (out + in)", "copy_limit_s", None),
        ("naive pandas pipeline", "naive_s", "naive_mb"),
    ]
    long = [
        {"rows": p["rows"], "what": name, "measure": measure, "value": p[key]}
        for p in rows
        for name, seconds, mb in series
        for measure, key in (("seconds", seconds), ("peak RSS (MB)", mb))
        if key is not None and p[key] is not None
    ]
    base = alt.Chart(alt.Data(values=long)).encode(
        x=alt.X(
            "rows:Q", title="source rows", scale=alt.Scale(type="log"), axis=alt.Axis(format="~s")
        ),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(type="log"), axis=alt.Axis(format="~g")),
        color=alt.Color("what:N", title=None, legend=alt.Legend(orient="bottom")),
    )
    layered = base.mark_line(point=True)
    spec = (
        layered.properties(width=300, height=220)
        .facet(column=alt.Column("measure:N", title=None, sort=["seconds", "peak RSS (MB)"]))
        .resolve_scale(y="independent")
        .properties(title="Cost against the size of the source (log scales)")
    )
    out.write_bytes(vl_convert.vegalite_to_png(spec.to_json(), scale=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = points(load(args.results))
    if not rows:
        print(f"no results in {args.results}: run make bench first", file=sys.stderr)
        return 1
    print(markdown(rows))
    chart(rows, args.results / "scaling.png")
    print(f"written {args.results / 'scaling.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
