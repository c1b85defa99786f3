"""Deploys wait for tests: deploy.yml runs only as the last job of ci.yml, for a push to main,
after every check of that commit passed; the deploy role trusts only that workflow on main in
the production environment, and a permissions boundary caps what it can ever do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
BOOTSTRAP = ROOT / "terraform" / "bootstrap" / "main.tf"
MAIN_PUSH = "github.event_name == 'push' && github.ref == 'refs/heads/main'"


def workflow(name: str) -> dict[Any, Any]:
    # PyYAML reads the key "on" as True (YAML 1.1).
    return yaml.safe_load((WORKFLOWS / name).read_text())  # type: ignore[no-any-return]


def test_deploy_runs_only_when_called_never_on_a_push_of_its_own():
    deploy = workflow("deploy.yml")
    assert set(deploy[True]) == {"workflow_call"}
    [job] = deploy["jobs"].values()
    assert job["environment"] == "production" and job["if"] == MAIN_PUSH


def test_ci_calls_deploy_for_main_after_every_other_job_passed():
    ci = workflow("ci.yml")
    jobs = ci["jobs"]
    deploy = jobs["deploy"]
    assert deploy["uses"] == "./.github/workflows/deploy.yml"
    assert deploy["if"] == MAIN_PUSH
    assert set(deploy["needs"]) == set(jobs) - {"deploy"}
    assert deploy["permissions"] == {"contents": "read", "id-token": "write"}
    # A newer push never cancels main's run half-way through a deploy.
    assert "refs/heads/main" in str(ci["concurrency"]["cancel-in-progress"])


def test_the_deploy_role_trusts_only_deploy_yml_on_main_in_production_and_has_a_boundary():
    text = BOOTSTRAP.read_text()
    assert '"environment:production"' in text
    assert "/.github/workflows/deploy.yml@refs/heads/main" in text
    assert re.search(r'variable\s*=\s*"token.actions.githubusercontent.com:sub"', text)
    assert "StringLike" not in text  # an exact subject, no wildcards
    role = re.search(r'resource "aws_iam_role" "deploy" \{(.*?)\n\}', text, re.DOTALL)
    assert role and re.search(r"permissions_boundary\s*=\s*aws_iam_policy\.boundary\.arn", role[1])
    for denied in ("iam:UpdateAssumeRolePolicy", "iam:DeleteRolePermissionsBoundary",
                   "secretsmanager:GetSecretValue", "iam:CreateAccessKey"):  # fmt: skip
        assert f'"{denied}"' in text, denied


def test_the_runbook_restricts_production_to_main_with_required_reviewers():
    runbook = (ROOT / "docs" / "deploy.md").read_text()
    assert "required reviewers" in runbook.lower()
    assert "Selected branches" in runbook and "`main`" in runbook
    assert "job_workflow_ref" in runbook and "terraform/bootstrap" in runbook
