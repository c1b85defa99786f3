"""Database credentials from Secrets Manager: RDS-format secrets become safe libpq URIs, every
fault names the secret and the key but never a value, and the URI really connects."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest

from ainsdale_etl.adapters.postgres import describe_url
from ainsdale_etl.adapters.secrets import (
    database_url,
    database_url_from_secret,
    default_sslmode,
    parse_secret,
)
from ainsdale_etl.core.errors import ConfigError, DatabaseError
from ainsdale_etl.core.settings import load_settings
from ainsdale_etl.runtime.context import Context
from helpers.databases import rds_secret

AWKWARD_PASSWORD = "p@ss:w/rd%?#&= é"
SECRET = {
    "engine": "postgres",
    "host": "totesys.abc123.eu-west-2.rds.amazonaws.com",
    "port": 5432,
    "username": "etl reader",
    "password": AWKWARD_PASSWORD,
    "dbname": "totesys",
}


def url_of(secret: dict[str, object], **kwargs: str) -> str:
    return database_url(secret, secret_id="prod/source-db", **kwargs).get_secret_value()


# --- URIs from secrets (pure) ----------------------------------------------------------------


def test_user_and_password_are_quoted_so_any_character_survives():
    parts = urlsplit(url_of(SECRET))
    assert unquote(parts.password or "") == AWKWARD_PASSWORD
    assert unquote(parts.username or "") == "etl reader"
    assert (parts.hostname, parts.port, parts.path) == (SECRET["host"], 5432, "/totesys")


def test_a_remote_host_requires_tls_by_default():
    assert parse_qs(urlsplit(url_of(SECRET)).query) == {"sslmode": ["require"]}


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1", "/var/run/postgresql"])
def test_this_machine_prefers_tls_only(host):
    assert default_sslmode(host) == "prefer"


def test_an_rds_host_is_verified_with_the_rds_ca_bundle_when_at_hand(tmp_path):
    bundle = tmp_path / "rds-global-bundle.pem"
    query = parse_qs(urlsplit(url_of(SECRET, ca_bundle=str(bundle))).query)
    assert query == {"sslmode": ["verify-full"], "sslrootcert": [str(bundle)]}
    other = SECRET | {"host": "db.example.org"}  # not RDS: the bundle cannot vouch for it
    assert parse_qs(urlsplit(url_of(other, ca_bundle=str(bundle))).query) == {
        "sslmode": ["require"]
    }
    assert default_sslmode("x.abc.cn-north-1.rds.amazonaws.com.cn", str(bundle)) == "verify-full"


def test_sslmode_can_be_chosen():
    query = parse_qs(urlsplit(url_of(SECRET, sslmode="verify-full")).query)
    assert query["sslmode"] == ["verify-full"]


def test_a_socket_directory_travels_as_the_host_parameter():
    url = url_of({**SECRET, "host": "/tmp/pg sock", "port": 5433})
    parts = urlsplit(url)
    assert parts.hostname is None
    assert parse_qs(parts.query) == {
        "host": ["/tmp/pg sock"],
        "port": ["5433"],
        "sslmode": ["prefer"],
    }


def test_an_ipv6_host_is_bracketed():
    assert urlsplit(url_of({**SECRET, "host": "fd00::5"})).hostname == "fd00::5"


def test_port_defaults_to_5432_and_may_be_a_string():
    assert urlsplit(url_of({k: v for k, v in SECRET.items() if k != "port"})).port == 5432
    assert urlsplit(url_of({**SECRET, "port": "6432"})).port == 6432


@pytest.mark.parametrize("key", ["host", "username", "password", "dbname"])
def test_a_missing_key_is_named_and_no_value_is_shown(key):
    secret = {k: v for k, v in SECRET.items() if k != key}
    with pytest.raises(ConfigError) as err:
        url_of(secret)
    message = str(err.value)
    assert f"secret prod/source-db lacks '{key}'" in message
    assert AWKWARD_PASSWORD not in message and "amazonaws" not in message


def test_an_empty_password_counts_as_missing():
    with pytest.raises(ConfigError, match="lacks 'password'"):
        url_of({**SECRET, "password": ""})


def test_another_engine_is_refused():
    with pytest.raises(ConfigError, match="engine 'mysql'; PostgreSQL is needed"):
        url_of({**SECRET, "engine": "mysql"})


def test_a_port_that_is_not_a_number_is_named_without_its_value():
    with pytest.raises(ConfigError, match="'port' is not a number"):
        url_of({**SECRET, "port": "fifty"})


@pytest.mark.parametrize("text", ["", "password=hunter2", '"hunter2"', "[1, 2]"])
def test_a_secret_that_is_not_a_json_object_is_refused_without_echoing_it(text):
    with pytest.raises(ConfigError) as err:
        parse_secret(text, "prod/source-db")
    assert "secret prod/source-db is not" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_describe_url_shows_where_never_the_password():
    assert describe_url(database_url(SECRET, secret_id="s")) == (
        f"etl reader@{SECRET['host']}:5432/totesys"
    )
    socket = database_url({**SECRET, "host": "/tmp/pg"}, secret_id="s")
    assert describe_url(socket) == "etl reader@/tmp/pg:5432/totesys"


# --- Secrets Manager (moto) and a real connection --------------------------------------------


def put_secret(name: str, value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return boto3.client("secretsmanager").create_secret(Name=name, SecretString=text)["ARN"]


def test_a_secret_is_read_by_name_or_arn(fake_aws):
    arn = put_secret("prod/source-db", SECRET)
    for secret_id in ("prod/source-db", arn):
        url = database_url_from_secret(secret_id).get_secret_value()
        assert unquote(urlsplit(url).password or "") == AWKWARD_PASSWORD


def test_a_secret_arn_brings_its_region(fake_aws, monkeypatch):
    arn = put_secret("prod/source-db", SECRET)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert database_url_from_secret(arn).get_secret_value().startswith("postgresql://")


def test_a_secret_for_rds_verifies_the_server_with_pgsslrootcert_s_bundle(
    fake_aws, monkeypatch, tmp_path
):
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    put_secret("prod/source-db", SECRET)
    monkeypatch.setenv("PGSSLROOTCERT", str(bundle))
    query = parse_qs(urlsplit(database_url_from_secret("prod/source-db").get_secret_value()).query)
    assert query == {"sslmode": ["verify-full"], "sslrootcert": [str(bundle)]}


def test_a_secret_for_rds_without_the_bundle_warns_that_the_server_is_not_verified(
    fake_aws, monkeypatch, tmp_path
):
    from ainsdale_etl.core.events import NullReporter

    class Warnings(NullReporter):
        def __init__(self) -> None:
            self.said: list[str] = []

        def warning(self, message: str, **fields: object) -> None:
            self.said.append(message)

    put_secret("prod/source-db", SECRET)
    monkeypatch.setenv("PGSSLROOTCERT", str(tmp_path / "absent.pem"))
    monkeypatch.setenv("AINSDALE_SOURCE_SECRET_ID", "prod/source-db")
    monkeypatch.delenv("AINSDALE_SOURCE_URL", raising=False)
    reporter = Warnings()
    assert "sslmode=require" in Context(load_settings(), reporter).source.url.get_secret_value()
    [said] = reporter.said
    assert "not verified" in said and "PGSSLROOTCERT" in said and AWKWARD_PASSWORD not in said


def test_a_missing_secret_is_a_configuration_error_naming_it(fake_aws):
    with pytest.raises(ConfigError, match="secret prod/nope not found"):
        database_url_from_secret("prod/nope")


def test_the_source_connects_through_its_secret(fake_aws, monkeypatch, shared_source_url, tmp_path):
    put_secret("dev/source-db", rds_secret(shared_source_url, AWKWARD_PASSWORD))
    monkeypatch.setenv("AINSDALE_SOURCE_SECRET_ID", "dev/source-db")
    monkeypatch.setenv("AINSDALE_HOME", str(tmp_path))
    monkeypatch.delenv("AINSDALE_SOURCE_URL", raising=False)
    ctx = Context(load_settings())
    assert not ctx.settings.source_is_embedded
    with ctx.source.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sales_order")
        assert cur.fetchone()[0] > 0


def test_a_wrong_secret_fails_naming_the_secret_and_never_the_password(
    fake_aws, monkeypatch, shared_source_url, tmp_path
):
    wrong = {**rds_secret(shared_source_url, AWKWARD_PASSWORD), "dbname": "no_such_db"}
    put_secret("dev/source-db", wrong)
    monkeypatch.setenv("AINSDALE_SOURCE_SECRET_ID", "dev/source-db")
    monkeypatch.setenv("AINSDALE_HOME", str(tmp_path))
    monkeypatch.delenv("AINSDALE_SOURCE_URL", raising=False)
    with pytest.raises(DatabaseError) as err, Context(load_settings()).source.connect():
        pass
    message = str(err.value)
    assert message.startswith("cannot connect to the source database (secret dev/source-db):")
    assert "no_such_db" in message
    assert AWKWARD_PASSWORD not in message and "p%40ss" not in message


RAISE = (
    "DO $$ BEGIN RAISE EXCEPTION 'the table is locked by a migration' "
    "USING DETAIL = 'relation dim_date is held', HINT = 'retry after the migration'; END $$"
)


def test_a_server_error_keeps_its_message_detail_and_hint_through_both_drivers(pg_admin_url):
    """describe_error kept the driver's first two lines, losing the server's reason."""
    import adbc_driver_postgresql.dbapi as adbc
    import psycopg

    from ainsdale_etl.adapters.postgres import describe_error

    expected = (
        "the table is locked by a migration; detail: relation dim_date is held; "
        "hint: retry after the migration"
    )
    with psycopg.connect(pg_admin_url) as conn, pytest.raises(psycopg.Error) as raised:
        conn.execute(RAISE)
    assert describe_error(raised.value) == expected
    with (
        adbc.connect(pg_admin_url) as db,
        db.cursor() as cur,
        pytest.raises(adbc.Error) as raised_adbc,
    ):
        cur.execute(RAISE)
    assert describe_error(raised_adbc.value) == expected
