"""Batches: ids, object keys, and the manifests that commit them.

A batch is a set of objects under ``data/YYYY/MM/DD/<batch_id>/`` plus a manifest written last.
The manifest is the commit marker: objects without one are not a batch, whatever they hold.
The same layout is used in the ingest bucket (CSV) and the processed bucket (Parquet).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import ValidationError

from ainsdale_etl.core.errors import BadInputError, ConfigError, RefusedError
from ainsdale_etl.core.manifests import Manifest, TableEntry
from ainsdale_etl.core.registry import SCHEMA_VERSION
from ainsdale_etl.core.storage import ObjectNotFoundError, Storage

__all__ = ["Manifest", "TableEntry"]  # the models, where readers of batches look for them

_BATCH_ID = re.compile(r"^(\d{8})T(\d{6})(\d{6})Z$")
# An object's file name: <batch_id>_<table>.<ext>, the extension perhaps after a rewrite's
# stamp (see rewrite_extension).
_OBJECT_NAME = re.compile(
    r"(?P<batch>\d{8}T\d{12}Z)_(?P<table>[a-z][a-z0-9_]*)\.(?P<ext>(?:\d{8}T\d{12}Z\.)?[a-z]+)"
)
MANIFEST_SUFFIX = "_manifest.json"
# A manifest is read whole, and parsing takes ~35 times its size in memory (a 48 MB one took
# 1.7 GB). What this release writes stays far below (in-flight xids are bounded runs, see
# extract/windows.py); a larger one is refused, not read.
MAX_MANIFEST_BYTES = 16 << 20


def new_batch_id(now: datetime | None = None, *, after: str | None = None) -> str:
    """The batch id of a run starting at ``now`` (UTC): sortable, and safe in an object key.

    Batches are processed in id order, so a new id must sort after the last committed one
    (``after``) even if this host's clock runs behind the one that wrote it: it is then the
    next microsecond instead.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if after is not None:
        now = max(now, parse_batch_id(after) + timedelta(microseconds=1))
    return now.strftime("%Y%m%dT%H%M%S%fZ")


def parse_batch_id(batch_id: str) -> datetime:
    """The UTC time a batch id stands for; a malformed id is a usage error."""
    try:
        if not _BATCH_ID.match(batch_id):
            raise ValueError(batch_id)
        return datetime.strptime(batch_id, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(
            f"{batch_id!r} is not a batch id; batch ids look like 20261125T174812123456Z "
            "(see 'ainsdale-etl batches')"
        ) from None


def _is_batch_id(text: str) -> bool:
    try:
        parse_batch_id(text)
    except ConfigError:
        return False
    return True


def batch_prefix(batch_id: str) -> str:
    when = parse_batch_id(batch_id)
    return f"data/{when:%Y/%m/%d}/{batch_id}/"


def object_key(batch_id: str, table: str, extension: str) -> str:
    return f"{batch_prefix(batch_id)}{batch_id}_{table}.{extension}"


def rewrite_extension(storage: Storage, batch_id: str, extension: str) -> str:
    """The extension for a batch's objects: ``extension`` the first time, and a new one (a
    UTC stamp before it) when the batch is already committed, so that writing it again never
    touches the objects its manifest names. The new manifest replaces the old in one atomic
    write, after every new object: a rerun that fails leaves the previous commit whole."""
    if not storage.exists(manifest_key(batch_id)):
        return extension
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.{extension}"


def manifest_key(batch_id: str) -> str:
    return f"{batch_prefix(batch_id)}{batch_id}{MANIFEST_SUFFIX}"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(storage: Storage, manifest: Manifest) -> None:
    """Commit a batch: call only after every object it names has been written."""
    storage.put_bytes(manifest_key(manifest.batch_id), manifest.model_dump_json(indent=2).encode())


def read_manifest(storage: Storage, batch_id: str) -> Manifest:
    raw = storage.get_bytes(manifest_key(batch_id))
    check_manifest_size(batch_id, len(raw), storage.uri)
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as exc:
        raise BadInputError(
            f"batch {batch_id}: manifest {manifest_key(batch_id)} in {storage.uri} is not valid: "
            f"{exc.errors()[0]['msg']}"
        ) from None
    if "schema_version" not in manifest.model_fields_set:
        manifest.schema_version = 1
    return manifest


def check_manifest_size(batch_id: str, size: int, uri: str) -> None:
    """Refuse a manifest larger than ``MAX_MANIFEST_BYTES`` before it is parsed."""
    if size > MAX_MANIFEST_BYTES:
        raise BadInputError(
            f"batch {batch_id}: manifest {manifest_key(batch_id)} in {uri} is {size:,} bytes, "
            f"over the {MAX_MANIFEST_BYTES:,} this release reads (written by an older release "
            "that listed every in-flight xid?); re-extract the batch with this release"
        )


def readable(manifest: Manifest) -> Manifest:
    """``manifest``, if this release can process the batch it commits: one written by a newer
    schema version may hold tables or columns this release does not know."""
    if manifest.schema_version > SCHEMA_VERSION:
        raise RefusedError(
            f"batch {manifest.batch_id} was written by schema version {manifest.schema_version}, "
            f"newer than this ainsdale-etl's ({SCHEMA_VERSION}): process it with that release "
            "(or newer)"
        )
    return manifest


def object_of(key: str) -> tuple[str, str, str] | None:
    """The batch id, table and extension a batch object's key names; None if ``key`` is not
    exactly such a key (another folder, a ``..``, another name)."""
    match = _OBJECT_NAME.fullmatch(key.rpartition("/")[2])
    if match is None or not _is_batch_id(match["batch"]):
        return None
    batch_id, table, extension = match.group("batch", "table", "ext")
    return (batch_id, table, extension) if key == object_key(batch_id, table, extension) else None


def check_object_key(batch_id: str, key: str, table: str | None = None) -> None:
    """Refuse a key a manifest of ``batch_id`` may not name (for ``table``, if given): only
    its own batch's objects, named for it, and for an id set (``.ids``) an earlier batch's,
    which later batches point at again while a table's ids are unchanged."""
    named = object_of(key)
    where = f"batch {batch_id}: table {table or (named[1] if named else '?')}: object key {key!r}"
    if named is None:
        raise BadInputError(
            f"{where} is not a batch object's key (data/YYYY/MM/DD/<batch_id>/<batch_id>_"
            "<table>.<ext>); the manifest was altered: restore it or re-extract the batch"
        )
    owner, its_table, extension = named
    if table is not None and its_table != table:
        raise BadInputError(f"{where} is named for table {its_table}; the manifest was altered")
    if owner != batch_id and not (extension.endswith("ids") and owner < batch_id):
        raise BadInputError(
            f"{where} belongs to batch {owner}, not to this one; the manifest was altered: "
            "restore it or re-extract the batch"
        )


def check_object_keys(manifest: Manifest) -> Manifest:
    """``manifest``, if every object it names is one it may name (see check_object_key)."""
    for table, entry in manifest.tables.items():
        for key in (entry.key, entry.ids_key):
            if key is not None:
                check_object_key(manifest.batch_id, key, table)
    return manifest


def fetch_checked(storage: Storage, batch_id: str, entry: TableEntry, tmp: Path) -> Path:
    """A batch's object downloaded to ``tmp`` and checked against its manifest entry: its key
    must be one the batch may name (:func:`check_object_key`), its checksum given and equal."""
    key = entry.key or ""
    check_object_key(batch_id, key)
    if not entry.sha256:
        raise BadInputError(
            f"batch {batch_id}: object {key} has no checksum in its manifest; objects are "
            "checked before use: restore the manifest or re-run the step that wrote it"
        )
    path = tmp / key.rsplit("/", 1)[-1]
    try:
        storage.get_file(key, path)
    except ObjectNotFoundError:
        raise BadInputError(
            f"batch {batch_id}: object {key} named by its manifest is missing"
        ) from None
    if sha256_file(path) != entry.sha256:
        raise BadInputError(
            f"batch {batch_id}: object {key} does not match its manifest checksum "
            "(changed or truncated after it was written); re-run the step that wrote it"
        )
    return path


def committed_batches(storage: Storage, *, since: str | None = None) -> list[str]:
    """Ids of the batches whose manifest exists, oldest first; with ``since``, only that batch
    and those after it, in one listing that starts there (its cost does not grow with the
    batches before it: a step lists from the ledger's newest batch, see pipeline/repair.py)."""
    ids = []
    after = batch_prefix(since).removesuffix("/") if since else None
    for key in storage.list("data/", after=after):
        name = key.rsplit("/", 1)[-1]
        if name.endswith(MANIFEST_SUFFIX):
            batch_id = name.removesuffix(MANIFEST_SUFFIX)
            if _is_batch_id(batch_id) and key == manifest_key(batch_id):
                ids.append(batch_id)
    return sorted(ids)


def select_batches(
    ids: list[str],
    *,
    batch_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[str]:
    """``ids`` narrowed to one batch, or to those in [since, until] (ids or dates, inclusive)."""
    if batch_id is not None:
        parse_batch_id(batch_id)
        return [b for b in ids if b == batch_id]
    return [
        b
        for b in ids
        if (since is None or b >= since) and (until is None or b[: len(until)] <= until)
    ]


class History:
    """The committed manifests of a bucket, newest first, each read once however often walked.

    ``committed`` may be only the newest batches; ``older`` lists them all, and is called the
    first time a walk goes past the oldest of them (rarely: the newest batch usually holds
    every table's window). A batch whose manifest is gone (expired by a lifecycle rule, say)
    is passed over: a walk then finds an older window, and reads again rather than loses."""

    def __init__(
        self,
        storage: Storage,
        committed: list[str],
        older: Callable[[], list[str]] | None = None,
    ) -> None:
        self._storage, self._ids = storage, committed[::-1]
        self._older = older
        self._read: list[Manifest] = []

    def __iter__(self) -> Iterator[Manifest]:
        index = 0
        while True:
            if index == len(self._ids) and self._older is not None:
                oldest = self._ids[-1] if self._ids else None
                self._ids += [b for b in self._older()[::-1] if oldest is None or b < oldest]
                self._older = None
            if index == len(self._ids):
                return
            if index == len(self._read):
                try:
                    self._read.append(read_manifest(self._storage, self._ids[index]))
                except ObjectNotFoundError:
                    del self._ids[index]
                    continue
            yield self._read[index]
            index += 1
