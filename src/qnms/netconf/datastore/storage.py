"""Crash-safe persistence of datastores as XML files.

A datastore file is replaced, never rewritten: the new content goes to a temporary
file in the same directory, is flushed and fsync'ed, then ``os.replace`` swaps it in
and the directory is fsync'ed so the rename itself is durable. A SIGKILL at any
instant therefore leaves either the old or the new file; a stray temporary file is
ignored (and removed) on the next start.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from lxml import etree

from qnms.yang.errors import ErrorTag, RpcError
from qnms.yang.tree import parse_xml

TMP_PREFIX = ".tmp-"


def atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
        fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(directory: Path) -> None:
    """Temporary files of writes interrupted by a crash: never valid, just garbage."""
    for p in directory.glob(TMP_PREFIX + "*"):
        with contextlib.suppress(OSError):
            p.unlink()


def serialise(tree: etree._Element) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="utf-8")


def parse(data: bytes) -> etree._Element:
    return parse_xml(data)


def read(path: Path) -> etree._Element | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return parse(data)


class DatastoreError(Exception):
    """A persisted or initial configuration could not be loaded."""


def private_dir(path: Path) -> Path:
    """Create ``path`` mode 0700, and its missing parents too; tighten it if it exists."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


class StateFiles:
    """``<name>.xml`` files in a state directory; with no directory, nothing is kept."""

    def __init__(self, directory: str | Path | None) -> None:
        self.directory = Path(directory) if directory is not None else None
        if self.directory is not None:
            private_dir(self.directory)  # datastores are nobody else's business
            remove_stale_temps(self.directory)

    def path(self, name: str) -> Path | None:
        return self.directory / f"{name}.xml" if self.directory is not None else None

    def load(self, name: str) -> etree._Element | None:
        path = self.path(name)
        if path is None:
            return None
        try:
            return read(path)
        except etree.XMLSyntaxError as exc:
            raise DatastoreError(f"{path}: not well-formed XML: {exc}") from exc

    def save(self, name: str, tree: etree._Element | None) -> None:
        """Write (or with ``tree`` None remove) a datastore file, atomically."""
        path = self.path(name)
        if path is None:
            return
        try:
            if tree is None:
                atomic_remove(path)
            else:
                atomic_write(path, serialise(tree))
        except OSError as exc:
            raise RpcError(
                ErrorTag.OPERATION_FAILED, f"cannot save the {name} datastore: {exc}"
            ) from exc
