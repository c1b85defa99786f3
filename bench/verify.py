"""``python -m bench.verify --scale N``: how long ``ainsdale-etl verify`` takes and how much
memory it holds, on a warehouse (and lake) built from a seeded source as ``make bench`` builds
it: seed, run-all, 1% of the sales orders changed, run-all again, then verify (timed, ``--runs``
times). ``make bench`` times verify too, after all its other stages; this measures it alone,
so a change to verify can be judged in minutes rather than a whole bench.

``--keep`` keeps the databases and folders and writes ``env.json`` in the work folder;
``--reuse <that folder>`` measures verify again on them (no seeding, no runs).
Writes ``bench/results/verify-scale-<N>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench.run import (
    CHURN,
    DEFAULT_URL,
    RESULTS,
    Bench,
    _event_rows,
    bench_run,
    churn,
    cli,
    machine,
    server_version,
)


def prepare(b: Bench) -> dict[str, str]:
    """A seeded source and a warehouse and lake loaded from it, with one incremental batch."""
    source = b.database("src")
    env = b.cli_env(source, b.database("wh"), b.work / "buckets")
    b.measure("seed", "seed", [cli(), "seed", "--scale", f"{b.scale:g}"], lambda _: 0, env)
    b.measure("run_all", "run-all", [cli(), "run-all"], _event_rows("batch_committed"), env)
    churn(source, CHURN)
    b.measure("incremental", "run-all after churn", [cli(), "run-all"], lambda _: 0, env)
    return env


def measure_verify(b: Bench, env: dict[str, str], runs: int) -> list[dict[str, Any]]:
    found = []
    for run in range(runs):
        m = b.measure(
            f"verify_{run}",
            f"verify (run {run + 1})",
            [cli(), "verify", "--json"],
            lambda _: 0,
            env,
            lambda out: {"ok": json.loads(out.strip().splitlines()[-1]).get("ok")},
        )
        found.append(m.as_dict())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=100)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", type=Path, help="a work folder a --keep run left")
    parser.add_argument("--label", default="", help="e.g. before/after, kept in the result")
    args = parser.parse_args()
    admin = os.environ.get(
        "AINSDALE_BENCH_DATABASE_URL", os.environ.get("AINSDALE_TEST_DATABASE_URL", DEFAULT_URL)
    )
    result: dict[str, Any] = {
        "scale": args.scale,
        "label": args.label,
        "machine": machine() | {"postgresql": server_version(admin)},
    }
    if args.reuse:
        saved = json.loads((args.reuse / "env.json").read_text())
        b = Bench(admin, saved["scale"], args.reuse)
        result["scale"] = saved["scale"]
        result["verify"] = measure_verify(b, saved["env"], args.runs)
    else:
        with bench_run(admin, args.scale, args.keep) as b:
            env = prepare(b)
            if args.keep:
                (b.work / "env.json").write_text(json.dumps({"scale": args.scale, "env": env}))
            result["verify"] = measure_verify(b, env, args.runs)
    out = RESULTS / f"verify-scale-{result['scale']:g}{'-' + args.label if args.label else ''}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["verify"], indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
