"""lake/append.py calls pyiceberg's private ``_dataframe_to_data_files`` and reads a fast
append's ``commit_uuid``: this fails when a pyiceberg release changes either, before the
version bound in pyproject.toml is widened to it."""

from __future__ import annotations

import inspect


def test_the_private_data_file_writer_takes_what_the_lake_passes() -> None:
    from pyiceberg.io.pyarrow import _dataframe_to_data_files

    parameters = inspect.signature(_dataframe_to_data_files).parameters
    assert list(parameters) == ["table_metadata", "df", "io", "write_uuid", "counter"]
    assert all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in parameters.values())


def test_a_fast_append_has_the_commit_uuid_and_append_data_file_the_lake_uses() -> None:
    from pyiceberg.table.update.snapshot import _FastAppendFiles, _SnapshotProducer

    assert "self.commit_uuid" in inspect.getsource(_SnapshotProducer.__init__)
    assert list(inspect.signature(_FastAppendFiles.append_data_file).parameters) == [
        "self",
        "data_file",
    ]


def test_the_installed_pyiceberg_is_within_the_declared_range() -> None:
    from importlib.metadata import requires, version

    [declared] = [r for r in requires("ainsdale-etl") or [] if r.startswith("pyiceberg")]
    assert ">=0.12" in declared and "<0.13" in declared
    assert version("pyiceberg").startswith("0.12.")
