"""The scaling table and chart drawn from bench results (bench/scaling.py)."""

from __future__ import annotations

import json

from bench.scaling import chart, load, markdown, points


def result(scale, rows, seconds, rss_mb, naive=None):
    stages = {
        "run_all": {"rows": rows, "seconds": seconds, "peak_rss_mb": rss_mb},
        "copy_limit": {"seconds": seconds / 1.1},
    }
    if naive:
        stages["naive_total"] = {"seconds": naive, "peak_rss_mb": 4000.0}
    return {"scale": scale, "stages": stages, "machine": {"load_average_at_start": [0.5]}}


def test_time_per_row_is_compared_with_scale_100_and_a_missing_naive_run_is_said(tmp_path):
    for r in (
        result(100, 4_000_000, 10.0, 500.0, naive=180.0),
        result(500, 20_000_000, 55.0, 510.0),
    ):
        (tmp_path / f"scale-{r['scale']}.json").write_text(json.dumps(r))
    rows = points(load(tmp_path))
    assert [p["scale"] for p in rows] == [100, 500]
    assert rows[1]["per_million_s"] == 2.75
    table = markdown(rows).splitlines()
    assert "| 500 | 20,000,000 | 55.00 | 2.75 | +10% |" in table[3]
    assert "not run" in table[3]
    chart(rows, tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
