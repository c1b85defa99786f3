"""The package's layout stays true: a batch's way is the folders' order, no stage imports a later
one, nothing imports in a circle, modules stay short, and `--help` stays cheap.

Every import counts: at the top of a module, inside a function (the lazy ones) and under
``TYPE_CHECKING`` -- a type named from a later stage is a dependency on it all the same.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "ainsdale_etl"
SOURCE_ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE
TESTS_ROOT = Path(__file__).resolve().parent

# Lowest first: a module may import from its own layer and the layers before it, never after.
LAYERS = (
    "core",  # settings, registry, batches, errors, events, retries: what every stage shares
    "adapters",  # PostgreSQL, buckets, AWS, secrets, the embedded server
    "testing",  # fault points, inert unless AINSDALE_FAULTS is set
    "runtime",  # context, lock, shutdown, quarantine, failures, alerts
    "extract",
    "transform",
    "load",
    "lake",  # the star as Iceberg tables, written from the warehouse after each load
    "pipeline",  # what is due, the policy, run-all
    "ops",  # verify, check, status, seed, report
    "cli",
)
MAX_LINES = 350
LONG_MODULE_REASON = "This module is long because"  # within the first lines of a longer one
HEAVY_MODULES = (
    "polars", "pyarrow", "boto3", "botocore", "adbc_driver_postgresql", "altair", "vl_convert",
    "pyiceberg", "sqlalchemy",
)  # fmt: skip


def module_name(root: Path, path: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(root: Path, path: Path, modules: set[str]) -> set[str]:
    """The package's modules (of ``modules``, all there are) that ``path`` imports, wherever
    the import stands."""
    here = module_name(root, path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import name` imports the module pkg.name where there is one.
            named = {f"{base}.{alias.name}" for alias in node.names}
            found.update(named & modules or {base})
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return {m for m in found if m == root.name or m.startswith(root.name + ".")}


def import_graph(root: Path) -> dict[str, set[str]]:
    paths = sorted(root.rglob("*.py"))
    modules = {module_name(root, path) for path in paths}
    return {module_name(root, path): imported_modules(root, path, modules) for path in paths}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """A line for each module outside every layer, and each import of a later layer."""
    problems = []
    for module, imports in graph.items():
        layer = layer_of(module)
        if layer is None:
            if module != PACKAGE:
                problems.append(f"{module} is in no layer; put it in one of {', '.join(LAYERS)}")
            continue
        for imported in sorted(imports):
            target = layer_of(imported)
            if target is None or LAYERS.index(target) > LAYERS.index(layer):
                problems.append(f"{module} ({layer}) imports {imported} ({target or 'no layer'})")
    return problems


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle of imports, each found once, as the modules along it."""
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for imported in sorted(graph.get(module, ())):
            if imported in path:
                cycle = path[path.index(imported) :]
                if not any(set(cycle) == set(c) for c in cycles):
                    cycles.append(cycle)
            elif imported not in done:
                visit(imported, [*path, imported])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    return cycles


def test_no_module_imports_a_later_layer() -> None:
    assert layer_violations(import_graph(SOURCE_ROOT)) == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert import_cycles(import_graph(SOURCE_ROOT)) == []


def test_every_layer_is_a_folder_and_every_folder_a_layer() -> None:
    folders = {p.name for p in SOURCE_ROOT.iterdir() if (p / "__init__.py").exists()}
    assert folders == set(LAYERS)


@pytest.mark.parametrize(
    ("layer", "statement"),
    [
        ("extract", "from ainsdale_etl.load import ddl"),
        ("extract", "from ainsdale_etl.load.ledger import loaded_batches"),
        ("core", "import ainsdale_etl.adapters.postgres"),
        ("adapters", "from ainsdale_etl.extract import windows"),
        ("transform", "from ..pipeline import run_all"),
        ("load", "importlib.import_module('ainsdale_etl.cli.app')"),
    ],
)
def test_the_checker_catches_an_import_of_a_later_layer(
    tmp_path: Path, layer: str, statement: str
) -> None:
    root = tmp_path / PACKAGE
    for name in LAYERS:
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    for later in ("load/ddl.py", "load/ledger.py", "adapters/postgres.py", "extract/windows.py"):
        (root / later).write_text("")
    (root / "pipeline" / "run_all.py").write_text("")
    (root / "cli" / "app.py").write_text("")
    (root / layer / "module.py").write_text(f"def f():\n    {statement}\n")

    [problem] = layer_violations(import_graph(root))
    assert problem.startswith(f"{PACKAGE}.{layer}.module ({layer}) imports {PACKAGE}.")


def test_the_checker_catches_a_circle_inside_a_layer(tmp_path: Path) -> None:
    root = tmp_path / PACKAGE
    (root / "load").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "load" / "__init__.py").write_text("")
    (root / "load" / "a.py").write_text("from ainsdale_etl.load import b\n")
    (root / "load" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ainsdale_etl.load.a import x\n"
    )

    assert import_cycles(import_graph(root)) == [[f"{PACKAGE}.load.a", f"{PACKAGE}.load.b"]]


def forbidden_test_imports(root: Path) -> list[str]:
    """A line for each import, in a test module or a helper, of conftest or of a test module:
    shared helpers live in tests/helpers, fixtures in conftest (found by pytest)."""
    problems = []
    for path in sorted([*root.glob("test_*.py"), *root.glob("helpers/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top == "conftest" or top.startswith("test_"):
                    where = path.relative_to(root)
                    problems.append(f"{where}:{node.lineno} imports {name}; use tests/helpers")
    return problems


def test_no_test_imports_conftest_or_another_test_module() -> None:
    assert forbidden_test_imports(TESTS_ROOT) == []


@pytest.mark.parametrize(
    "statement",
    [
        "from conftest import query",
        "import test_pipeline_end_to_end",
        "from test_ops_check import as_role",
    ],
)
def test_the_checker_catches_a_test_importing_conftest_or_a_test(
    tmp_path: Path, statement: str
) -> None:
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "databases.py").write_text("def query(): ...\n")
    (tmp_path / "test_ok.py").write_text("from helpers.databases import query\n")
    (tmp_path / "test_bad.py").write_text(f"def test_x():\n    {statement}\n")

    [problem] = forbidden_test_imports(tmp_path)
    assert problem.startswith("test_bad.py:2 imports ")


def test_no_module_is_longer_than_one_sitting_without_saying_why() -> None:
    too_long = []
    for path in sorted(SOURCE_ROOT.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > MAX_LINES and LONG_MODULE_REASON not in "\n".join(lines[:5]):
            too_long.append(f"{path.relative_to(SOURCE_ROOT)}: {len(lines)} lines")
    assert too_long == []


@pytest.mark.parametrize("command", [[], ["run-all"], ["verify"], ["report"]])
def test_help_imports_none_of_the_columnar_or_aws_stack(command: list[str]) -> None:
    probe = (
        "import sys\n"
        "from ainsdale_etl.cli.app import app\n"
        "try:\n"
        f"    app({[*command, '--help']!r}, prog_name='ainsdale-etl')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY_MODULES!r})\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert "Usage: ainsdale-etl" in done.stdout
    assert "HEAVY []" in done.stderr
