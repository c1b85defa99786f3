"""``make bench SCALE=N``: seed a source, then measure in one run, on the same data and server:

1. the COPY limit: PostgreSQL's COPY of the 11 tables out to CSV and into constraint-free copies;
2. our ``extract``, ``transform`` and ``load``, each a process of the real CLI;
3. our ``run-all`` into a fresh warehouse and fresh buckets (the headline number);
4. ``report``: the dashboard of that warehouse, without PNGs (as ``run-all`` refreshes it);
5. ``run-all`` again after 1% of the sales orders changed (the incremental run);
6. the naive baseline (pandas read_sql / merges / to_sql), see :mod:`bench.naive`.

Each stage runs as its own process (wall time, rows/s, peak RSS of its process tree; see
:mod:`bench.measure`). Prints a markdown table with the ratios the targets are judged by and
writes ``bench/results/scale-<N>.json`` and ``.md``. Databases are created on the server of
``AINSDALE_BENCH_DATABASE_URL`` (else ``AINSDALE_TEST_DATABASE_URL``, else the local
``postgresql://postgres@127.0.0.1:5432/postgres``) under unique names and dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.breakdown import breakdown
from bench.measure import Measurement, json_lines, python_command, run_stage
from bench.targets import targets

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CHURN = 0.01


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@dataclass
class Bench:
    """One run of the benchmark: its databases, folders and measurements."""

    admin_url: str
    scale: float
    work: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    created: list[str] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)  # databases settle() leaves as they are
    results: dict[str, Measurement] = field(default_factory=dict)
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.work / "stages.log"

    # -- databases -------------------------------------------------------------------------

    def database(self, role: str) -> str:
        """A new empty database for ``role``, dropped at the end of the run."""
        import psycopg

        name = f"ainsdale_bench_{self.run_id}_{role}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return with_database(self.admin_url, name)

    def drop_databases(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- stages ----------------------------------------------------------------------------

    def measure(
        self,
        key: str,
        name: str,
        command: list[str],
        rows: Callable[[str], int],
        env: dict[str, str] | None = None,
        detail: Callable[[str], dict[str, Any]] | None = None,
        urls: dict[str, str] | None = None,
    ) -> Measurement:
        """Run one stage and keep its measurement under ``key``. The bench's own modules get
        their database URIs (``urls``) in the environment, never on a command line."""
        self.settle()
        print(f"  {name} ...", end="", flush=True, file=sys.stderr)
        with self.log.open("a") as log:
            log.write(f"\n### {name}: {' '.join(command)}\n")
        if env is None:  # the bench's own modules, run from the scratch folder
            env = os.environ | {"PYTHONPATH": str(ROOT)} | (urls or {})
        spawned_at = time.time()
        seconds, peak, cpu, out = run_stage(name, command, env=env, cwd=self.work, log=self.log)
        details = detail(out) if detail else {}
        if "events" in details:  # a run of ours: where its time went
            details["breakdown"] = breakdown(details["events"], spawned_at, seconds)
        result = Measurement(name, round(seconds, 3), rows(out), peak, details, round(cpu, 2))
        self.results[key] = result
        print(
            f" {result.seconds:.2f} s, {result.rows:,} rows, {result.peak_rss_mb:.0f} MB",
            file=sys.stderr,
        )
        return result

    def settle(self, timeout: float = 120.0) -> None:
        """Let the server finish cleaning up after the previous stage before the next is timed.

        After millions of rows are written (the seed, a load), autovacuum vacuums and analyzes
        them on the same 2 cores; in production that happens between scheduled runs, not
        during the next one. Waiting for running workers alone is not enough: the launcher
        wakes once a minute and may start one in the middle of the next stage. So every bench
        database is vacuumed and analyzed now, leaving autovacuum nothing to do, except the
        ones ``dirty`` names (the churned source: its next reader pays for the churn, as it
        would in production, where 1% of a table is below autovacuum's threshold); then any
        running worker is waited for.
        """
        import psycopg

        for name in self.created:
            if name not in self.dirty:
                with psycopg.connect(with_database(self.admin_url, name), autocommit=True) as db:
                    db.execute("VACUUM (ANALYZE)")
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                busy = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
                ).fetchone()
                if not busy or not busy[0]:
                    return
                time.sleep(0.5)

    def cli_env(self, source: str, warehouse: str, buckets: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AINSDALE_")}
        env.update(
            AINSDALE_SOURCE_URL=source,
            AINSDALE_WAREHOUSE_URL=warehouse,
            AINSDALE_INGEST_URI=str(buckets / "ingest"),
            AINSDALE_PROCESSED_URI=str(buckets / "processed"),
            AINSDALE_HOME=str(buckets / "home"),
            AINSDALE_LOG_FORMAT="json",
        )
        return env


def cli() -> str:
    """The ainsdale-etl entry point installed next to this interpreter."""
    path = Path(sys.executable).parent / "ainsdale-etl"
    return str(path) if path.exists() else "ainsdale-etl"


def _event_rows(*events: str) -> Callable[[str], int]:
    def rows(out: str) -> int:
        return sum(int(e.get("rows", 0)) for e in json_lines(out) if e.get("event") in events)

    return rows


def _stage_events(out: str) -> dict[str, Any]:
    """What the stage itself logged: per-table rows and seconds, and per-step totals."""
    keep = {"table_extracted", "batch_committed", "batch_transformed", "batch_loaded"}
    keep |= {"table_transformed", "table_loaded", "step_started", "lake_synced", "no_changes"}
    keep |= {"lake_table_written", "connect_time"}
    fields = ["timestamp", "event", "step", "table", "rows", "seconds", "rows_per_s", "tables"]
    fields += ["sessions"]
    events = [
        {k: e[k] for k in fields if k in e} for e in json_lines(out) if e.get("event") in keep
    ]
    return {"events": events}


def _summary_rows(title: str) -> Callable[[str], int]:
    def rows(out: str) -> int:
        for e in json_lines(out):
            if e.get("event") == "summary" and e.get("title") == title:
                rows = e["rows"]  # a total (with "tables" beside it), or rows per table
                return sum(int(v) for v in rows.values()) if isinstance(rows, dict) else int(rows)
        return 0

    return rows


def _json_field(name: str) -> Callable[[str], int]:
    def rows(out: str) -> int:
        return int(json_lines(out)[-1][name])

    return rows


def churn(source_url: str, share: float) -> int:
    """Change ``share`` of the sales orders as an application would: a value and last_updated."""
    import psycopg

    with psycopg.connect(source_url) as conn:
        cur = conn.execute(
            """UPDATE sales_order SET units_sold = units_sold + 1,
                                      last_updated = localtimestamp(3)
               WHERE sales_order_id IN (
                   SELECT sales_order_id FROM sales_order ORDER BY md5(sales_order_id::text)
                   LIMIT (SELECT round(count(*) * %s) FROM sales_order))""",
            [share],
        )
        return cur.rowcount


def machine() -> dict[str, Any]:
    import polars
    import psutil
    import pyarrow

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "polars": polars.__version__,
        "pyarrow": pyarrow.__version__,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


@contextmanager
def bench_run(admin_url: str, scale: float, keep: bool) -> Iterator[Bench]:
    work = Path(tempfile.mkdtemp(prefix="ainsdale-bench-"))
    bench = Bench(admin_url, scale, work)
    try:
        yield bench
    finally:
        if keep:
            print(f"kept {work} and databases {', '.join(bench.created)}", file=sys.stderr)
        else:
            bench.drop_databases()
            shutil.rmtree(work, ignore_errors=True)


def run(
    scale: float,
    admin_url: str,
    *,
    naive: bool = True,
    naive_python: str = sys.executable,
    keep: bool = False,
) -> dict[str, Any]:
    """Every measurement of one benchmark run, as a JSON-ready dict."""
    started = time.perf_counter()
    info: dict[str, Any] = {
        "scale": scale,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine() | {"postgresql": server_version(admin_url)},
    }
    with bench_run(admin_url, scale, keep) as b:
        source = b.database("src")
        print(f"bench at scale {scale:g} in {b.work}", file=sys.stderr)
        b.measure(
            "seed",
            "seed the source (setup, not a target)",
            [cli(), "seed", "--scale", f"{scale:g}"],  # seeds AINSDALE_SOURCE_URL
            _summary_rows("seeded"),
            env=b.cli_env(source, source, b.work / "unused"),
        )
        measure_copy_limit(b, source)
        full = measure_ours(b, source)
        if naive:  # before the churn: on exactly the data ours ran on
            measure_naive(b, source, naive_python)
        measure_incremental(b, source, full)
        results = dict(b.results)
    info["verified"] = results["verify"].detail.get("ok")
    info["bench_seconds"] = round(time.perf_counter() - started, 1)
    info["stages"] = {k: results[k].as_dict() for k in ORDER if k in results}
    info["targets"] = targets(results, scale)
    return info


ORDER = (
    "seed", "copy_out", "copy_in", "copy_limit", "extract", "transform", "load",
    "run_all", "report", "incremental", "naive_extract", "naive_transform",
    "naive_load", "naive_total", "verify",
)  # fmt: skip


def measure_copy_limit(b: Bench, source: str) -> None:
    """COPY out and in, timed inside one process (its start-up is not counted against COPY)."""
    copy = b.measure(
        "copy_process",
        "COPY limit (process)",
        python_command("bench.copy_limit", str(b.work / "copy")),
        _json_field("rows"),
        detail=lambda out: json_lines(out)[-1],
        urls={"BENCH_SOURCE_URL": source, "BENCH_SCRATCH_URL": b.database("copy")},
    )
    out_s, in_s = copy.detail["copy_out_seconds"], copy.detail["copy_in_seconds"]
    b.results["copy_out"] = Measurement("COPY out to CSV", out_s, copy.rows, copy.peak_rss_bytes)
    b.results["copy_in"] = Measurement("COPY in, no constraints", in_s, copy.rows, 0)
    b.results["copy_limit"] = Measurement(
        "COPY limit: out + in", round(out_s + in_s, 3), copy.rows, copy.peak_rss_bytes
    )


def measure_ours(b: Bench, source: str) -> dict[str, str]:
    """Our three steps one by one, then run-all into a fresh warehouse; returns run-all's env."""
    staged = b.cli_env(source, b.database("staged"), b.work / "staged")
    for step, event in (
        ("extract", "batch_committed"),
        ("transform", "batch_transformed"),
        ("load", "batch_loaded"),
    ):
        b.measure(step, f"ours: {step}", [cli(), step], _event_rows(event), staged, _stage_events)
    full = b.cli_env(source, b.database("runall"), b.work / "runall")
    b.measure(
        "run_all",
        "ours: run-all, fresh warehouse",
        [cli(), "run-all"],
        _event_rows("batch_committed"),
        full,
        _stage_events,
    )
    measure_report(b, full)
    return full


def measure_report(b: Bench, env: dict[str, str]) -> None:
    """``report`` on the fresh warehouse, once untimed first: the first report on a machine
    bundles Vega into the user's cache (once per vl-convert version, not per report)."""
    import subprocess

    out = str(b.work / "report")
    subprocess.run([cli(), "report", "--out", out], env=env, cwd=b.work, check=True,
                   capture_output=True, timeout=600)  # fmt: skip
    b.measure("report", "ours: report (the page, no PNGs)", [cli(), "report", "--out", out],
              lambda out: 0, env)  # fmt: skip


def measure_incremental(b: Bench, source: str, full: dict[str, str]) -> None:
    """run-all after 1% of the sales orders changed, then verify the warehouse (untimed)."""
    changed = churn(source, CHURN)
    b.dirty.add(urlsplit(source).path.lstrip("/"))
    b.measure(
        "incremental",
        f"ours: run-all after {CHURN:.0%} churn ({changed:,} sales orders)",
        [cli(), "run-all"],
        _event_rows("batch_committed"),
        full,
        _stage_events,
    )
    b.measure(
        "verify",
        "verify the warehouse and the lake by content (targets: 10 s at scale 100, 1 GB at 500)",
        [cli(), "verify", "--json"],
        lambda out: 0,
        full,
        lambda out: {"ok": json.loads(out.strip().splitlines()[-1]).get("ok")},
    )


def measure_naive(b: Bench, source: str, python: str) -> None:
    """The naive baseline, run by ``python``: an interpreter of its own venv (make bench), so
    that pandas is not installed next to our CLI, whose every start would then import it
    through pyarrow (0.2 s, and 0.1 s more at exit), as it never does where it is deployed."""
    urls = {
        "BENCH_SOURCE_URL": source,
        "BENCH_WAREHOUSE_URL": b.database("naive"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),  # bench, schema
    }
    for step in ("extract", "transform", "load"):
        b.measure(
            f"naive_{step}",
            f"naive: {step}",
            [python, "-m", "bench.naive", step, str(b.work / "naive")],
            _json_field("rows"),
            urls=urls,
        )
    parts = [b.results[f"naive_{s}"] for s in ("extract", "transform", "load")]
    b.results["naive_total"] = Measurement(
        "naive: total",
        round(sum(p.seconds for p in parts), 3),
        parts[0].rows,
        max(p.peak_rss_bytes for p in parts),
        cpu_seconds=round(sum(p.cpu_seconds for p in parts), 2),
    )


def markdown(result: dict[str, Any]) -> str:
    """The result as the markdown the README shows."""
    m = result["machine"]
    lines = [
        f"### Benchmark at scale {result['scale']:g} ({result['started_at']})",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']}; PostgreSQL "
        f"{m['postgresql']} (same host); Python {m['python']}, polars {m['polars']}, "
        f"pyarrow {m['pyarrow']}. Load average at start: "
        f"{', '.join(str(x) for x in m['load_average_at_start'])}. "
        f"Whole bench: {result['bench_seconds']:g} s; warehouse verified: {result['verified']}.",
        "",
        "| stage | seconds | x COPY limit | rows | rows/s | peak RSS (MB) | CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    limit = result["stages"]["copy_limit"]["seconds"]
    for s in result["stages"].values():
        ratio = f"{s['seconds'] / limit:.2f}" if limit else ""
        rss = f"{s['peak_rss_mb']:,.0f}" if s["peak_rss_bytes"] else ""
        cpu = f"{s['cpu_seconds']:.1f}" if s["cpu_seconds"] else ""
        lines.append(
            f"| {s['name']} | {s['seconds']:.2f} | {ratio} | {s['rows']:,} | {s['rows_per_s']:,} "
            f"| {rss} | {cpu} |"
        )
    for key in ("run_all", "incremental"):
        stage = result["stages"].get(key, {})
        phases = stage.get("detail", {}).get("breakdown")
        if phases:
            lines += ["", f"Where the time of *{stage['name']}* went:", ""]
            lines += ["| phase | seconds |", "|---|---:|"]
            lines += [f"| {phase} | {s:.2f} |" for phase, s in phases.items()]
    lines += ["", "| target | goal | measured | met |", "|---|---|---|---|"]
    for t in result["targets"]:
        lines.append(
            f"| {t['target']} | {t['goal']} | {t['measured']} | {'yes' if t['met'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = ~11k sales orders")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("AINSDALE_BENCH_DATABASE_URL")
        or os.environ.get("AINSDALE_TEST_DATABASE_URL")
        or DEFAULT_URL,
        help="a PostgreSQL server where databases may be created (its maintenance database)",
    )
    parser.add_argument("--skip-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument(
        "--naive-python",
        default=sys.executable,
        help="the interpreter of the naive baseline's venv (pandas, SQLAlchemy; see Makefile)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and folders")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    args = parser.parse_args(argv)
    result = run(
        args.scale,
        args.database_url,
        naive=not args.skip_naive,
        # Absolute (stages run from a scratch folder), but not resolved: a venv's python is a
        # symlink whose own path is what makes it that venv's.
        naive_python=str(Path(args.naive_python).absolute()),
        keep=args.keep,
    )
    text = markdown(result)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"scale-{args.scale:g}"
    Path(f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    Path(f"{stem}.md").write_text(text)
    print(text)
    print(f"written {stem}.json and {stem}.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
