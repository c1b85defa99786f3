"""Secrets never leave the process: a catalog URI's password is masked like a database URL's
in `check`, the JSON log and errors; `seed` takes its URL from the environment."""

from __future__ import annotations

import io
import json
import re

import pytest

from ainsdale_etl.adapters.postgres import scrub
from ainsdale_etl.cli.output import JsonReporter
from helpers.databases import query
from helpers.processes import cli_env, run
from helpers.stand_ins import closed_port

PASSWORD = "hunter2pw"


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        (f"postgresql+psycopg://etl:{PASSWORD}@db.internal:5432/lake", "postgresql+psycopg://***@db.internal"),
        (f"https://user:{PASSWORD}@catalog.example/api", "https://***@catalog.example/api"),
    ],
)  # fmt: skip
def test_user_and_password_are_masked_in_uris_of_any_scheme(uri, masked):
    scrubbed = scrub(f"cannot reach {uri}: refused")
    assert PASSWORD not in scrubbed and scrubbed.startswith(f"cannot reach {masked}")


def test_a_json_log_line_never_carries_a_password():
    out = io.StringIO()
    JsonReporter(out).warning(f"lake: https://user:{PASSWORD}@catalog.example/api refused")
    line = json.loads(out.getvalue())
    assert PASSWORD not in out.getvalue() and "https://***@catalog.example/api" in line["message"]


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "https"])
@pytest.mark.parametrize("log_format", ["json", "console"])
def test_check_shows_where_the_catalog_is_never_its_password(scheme, log_format, etl_env, tmp_path):
    catalog = f"{scheme}://etl:{PASSWORD}@127.0.0.1:{closed_port()}/lake"
    env = cli_env(etl_env | {"AINSDALE_LAKE_CATALOG": catalog, "AINSDALE_LOG_FORMAT": log_format})
    done = run(["check"], env, tmp_path)
    assert done.returncode == 1  # the catalog cannot be reached
    assert PASSWORD not in done.stdout + done.stderr
    assert f"{scheme}://***@127.0.0.1" in done.stdout + done.stderr


def test_seed_takes_its_url_from_the_environment(etl_env, new_database_url, tmp_path):
    target = new_database_url("seeded")
    # postgres@host (a server) or postgres:@/db?host=… (the embedded one): trust ignores it
    with_password = re.sub(r"//postgres:?@", f"//postgres:{PASSWORD}@", target, count=1)
    assert PASSWORD in with_password
    env = cli_env(etl_env)
    by_env = run(["seed", "--scale", "0.001"], env | {"AINSDALE_SEED_URL": with_password}, tmp_path)
    assert by_env.returncode == 0, by_env.stderr
    assert "warning" not in by_env.stderr
    assert query(target, "SELECT count(*) > 0 FROM staff") == [(True,)]
    # On the command line a password is readable by every user of the machine: said once.
    in_argv = run(["seed", "--url", with_password, "--scale", "0.001", "--force"], env, tmp_path)
    assert in_argv.returncode == 0, in_argv.stderr
    [warning] = [ln for ln in in_argv.stdout.splitlines() if '"warning"' in ln]
    assert "AINSDALE_SEED_URL" in warning and "PGPASSWORD" in warning
    assert PASSWORD not in in_argv.stdout + in_argv.stderr
