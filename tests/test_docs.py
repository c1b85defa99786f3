"""The documentation: a short README, reference pages generated from the code and kept current,
and a site that builds with warnings as errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tools import reference

from ainsdale_etl.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_the_readme_is_a_front_door_under_250_lines() -> None:
    assert len(README.splitlines()) < 250


def test_the_readmes_test_command_is_what_ci_runs() -> None:
    ci = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip().startswith("make ")
    ]
    assert ci == ["make test"]
    assert re.search(r"^make test\s+#", README, re.MULTILINE)


def test_the_readme_says_the_capture_is_by_transaction_visibility() -> None:
    diagram = README.split("```")[1]
    assert "never by last_updated" in diagram
    assert "by last_updated" not in diagram.replace("never by last_updated", "")


def test_make_help_lists_every_target_the_docs_name() -> None:
    named = set(re.findall(r"\bmake ([a-z][a-z-]+)", README))
    for page in (ROOT / "docs").rglob("*.md"):
        named |= set(re.findall(r"`make ([a-z][a-z-]+)", page.read_text()))
    listed = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    targets = {line.split()[0] for line in listed.splitlines() if line.strip()}
    assert named - targets == set()


def test_every_setting_has_a_description_on_the_configuration_page() -> None:
    page = reference.configuration_page()
    for name, field in Settings.model_fields.items():
        assert field.description, f"AINSDALE_{name.upper()} has no description"
        assert f"`AINSDALE_{name.upper()}`" in page


def test_every_command_and_option_has_help_on_the_commands_page() -> None:
    import click

    page = reference.commands_page()
    for full, command in reference.commands():
        assert command.help, f"{full} has no help"
        assert f"## `{full}`" in page
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{full} {param.opts[0]} has no help"
                assert f"`{param.opts[0]}`" in page.split(f"## `{full}`")[1]


@pytest.mark.parametrize("name", sorted(reference.PAGES))
def test_the_committed_reference_page_is_current(name: str) -> None:
    committed = (ROOT / "docs" / "reference" / name).read_text()
    assert committed == reference.PAGES[name](), f"docs/reference/{name} is stale: `make docs`"


def test_the_benchmark_page_quotes_no_retired_stage() -> None:
    page = reference.benchmarks_page()
    assert "| ours: run-all, fresh warehouse, steps overlapped" not in page
    assert "incremental run-all (1% churn) | ≤" not in page


def test_every_page_is_in_the_nav_and_the_site_builds_strictly(tmp_path: Path) -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs").rglob("*.md"):
        assert page.relative_to(ROOT / "docs").as_posix() in config, page
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "reference" / "scaling.png").exists()
