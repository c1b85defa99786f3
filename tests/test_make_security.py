"""`make security` is honest: it fails when pip-audit audited nothing, and says why in one line
(here, a vulnerability database that cannot be reached: a proxy on a closed port)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from helpers.stand_ins import closed_port

ROOT = Path(__file__).resolve().parents[1]
PIP_AUDIT = ROOT / ".venv-tools" / "bin" / "pip-audit"


@pytest.mark.skipif(not PIP_AUDIT.exists(), reason="the linters are not installed: `make tools`")
def test_security_fails_in_one_line_when_the_vulnerability_database_cannot_be_reached():
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = os.environ | {"HTTPS_PROXY": proxy, "https_proxy": proxy, "NO_PROXY": ""}
    done = subprocess.run(["make", "--no-print-directory", "security"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode != 0, done.stdout
    said = [ln for ln in done.stderr.splitlines() if ln.startswith("security:")]
    assert len(said) == 1 and "could not reach the vulnerability database" in said[0]
    assert "nothing was audited" in said[0]
    assert "Traceback" not in done.stdout + done.stderr
    assert "No known vulnerabilities found" not in done.stdout


def test_security_audits_strictly():
    """A package pip-audit could not audit fails the target (it used to pass, auditing none)."""
    recipe = (ROOT / "make" / "deploy.mk").read_text()
    assert "pip-audit" in recipe and "--strict" in recipe
