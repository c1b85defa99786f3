"""A local folder standing in for a bucket (the embedded default, tests, ad hoc runs).

Writes go to a temporary name and are renamed, so a reader sees a whole object or none.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ainsdale_etl.core.storage import ObjectNotFoundError


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source``, or a copy where a link cannot be made (another
    file system, or one without links); an existing ``target`` is replaced."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except FileNotFoundError:
        raise
    except OSError:
        shutil.copyfile(source, target)


class LocalStorage:
    """A folder standing in for a bucket."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"key {key!r} escapes the bucket folder")
        return path

    def writable_problem(self) -> str | None:
        """Why a write here would fail, or None. The folder need not exist yet: the first
        write creates it under its nearest existing ancestor."""
        existing = next(p for p in (self.root, *self.root.parents) if p.exists())
        if not existing.is_dir():
            return f"{existing} is not a folder"
        if not os.access(existing, os.W_OK | os.X_OK):
            return f"{existing} is not writable by this user"
        # Permissions do not tell it all (root passes every access(); /proc refuses folders
        # to root too): make and remove a folder where the first write would.
        try:
            Path(tempfile.mkdtemp(prefix=".ainsdale-check-", dir=existing)).rmdir()
        except OSError as exc:
            return f"a folder cannot be made in {existing} ({exc.strerror})"
        return None

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        with self._atomic_target(key) as tmp:
            tmp.write_bytes(data)

    def put_file(self, key: str, path: Path) -> None:
        # A hard link where both folders are on one file system, else a copy: no bytes need
        # copying (at scale 100, copies were a fifth of the transform's CPU), and the caller
        # only ever deletes its file afterwards, never writes to it.
        with self._atomic_target(key) as tmp:
            _link_or_copy(path, tmp)
            tmp.chmod(0o600)  # as mkstemp made objects before: extracts hold personal data

    class _AtomicTarget:
        def __init__(self, target: Path) -> None:
            self.target = target

        def __enter__(self) -> Path:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.target.parent, prefix=".tmp-", suffix=".part")
            os.close(fd)
            self.tmp = Path(name)
            return self.tmp

        def __exit__(self, exc_type: object, *_: object) -> None:
            if exc_type is None:
                self.tmp.replace(self.target)
            else:
                self.tmp.unlink(missing_ok=True)

    def _atomic_target(self, key: str) -> LocalStorage._AtomicTarget:
        return LocalStorage._AtomicTarget(self._path(key))

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFoundError(self.uri, key) from None

    def get_file(self, key: str, path: Path) -> None:
        # Objects are never written in place (a new version is renamed over the old one), so
        # a hard link is a stable snapshot of the object, made without copying it.
        try:
            _link_or_copy(self._path(key), path)
        except FileNotFoundError:
            raise ObjectNotFoundError(self.uri, key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def url(self, key: str, expires_in: int) -> str:
        return self._path(key).as_uri()  # a file never expires: the folder's permissions rule

    def list(self, prefix: str = "", *, after: str | None = None) -> list[str]:
        """Keys under ``prefix`` (after ``after``), walking only the folders that can hold
        them: a listing from a batch on costs the same after 3 batches or 3,000, as on S3."""
        if not self.root.is_dir():
            return []
        keys = []
        for folder, subfolders, names in os.walk(self.root):
            here = Path(folder).relative_to(self.root).as_posix()
            base = "" if here == "." else f"{here}/"
            subfolders[:] = [d for d in subfolders if _may_hold(f"{base}{d}/", prefix, after)]
            keys += [
                f"{base}{name}"
                for name in names
                if not name.startswith(".tmp-")
                and f"{base}{name}".startswith(prefix)
                and (after is None or f"{base}{name}" > after)
            ]
        return sorted(keys)


def _may_hold(folder: str, prefix: str, after: str | None) -> bool:
    """Whether keys under ``folder`` (ending in "/") can start with ``prefix`` and sort after
    ``after``: a folder that does not start with the prefix (nor leads to it), or sorts before
    ``after`` without leading to it, holds none."""
    if not (folder.startswith(prefix) or prefix.startswith(folder)):
        return False
    return after is None or folder > after or after.startswith(folder)
