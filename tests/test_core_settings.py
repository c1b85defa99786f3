"""Settings decided from others: whether run-all overlaps its steps."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from ainsdale_etl.core.settings import Settings, on_this_machine


@pytest.mark.parametrize(
    ("url", "here"),
    [
        ("postgresql://u@127.0.0.1:5432/db", True),
        ("postgresql://u@localhost/db", True),
        ("postgresql://u@[::1]:5432/db", True),
        ("postgresql:///db", True),  # the default Unix socket
        ("postgresql://u@/db?host=/var/run/postgresql", True),
        ("postgresql://u@totesys.abc123.eu-west-2.rds.amazonaws.com:5432/db", False),
        ("postgresql://u@10.0.3.7/db", False),
    ],
)
def test_a_server_on_this_machine_is_told_from_one_elsewhere(url, here):
    assert on_this_machine(url) is here


def settings(source: str | None, warehouse: str | None, overlap: str = "auto") -> Settings:
    return Settings(
        source_url=SecretStr(source) if source else None,
        warehouse_url=SecretStr(warehouse) if warehouse else None,
        source_secret_id=None if source else "totesys",
        warehouse_secret_id=None if warehouse else "warehouse",
        overlap_steps=overlap,
    )


RDS = "postgresql://u@db.abc.eu-west-2.rds.amazonaws.com/totesys"


def test_auto_overlaps_the_steps_only_when_no_database_shares_this_machine():
    assert settings(RDS, RDS).overlaps_steps
    assert settings(None, None).overlaps_steps  # from Secrets Manager: RDS
    assert not settings(RDS, "postgresql://u@127.0.0.1/wh").overlaps_steps
    embedded = Settings(source_url=None, warehouse_url=None, source_secret_id=None,
                        warehouse_secret_id=None, overlap_steps="auto")  # fmt: skip
    assert not embedded.overlaps_steps  # the embedded default runs here
    assert settings(RDS, "postgresql://u@localhost/wh", "on").overlaps_steps
    assert not settings(RDS, RDS, "off").overlaps_steps
