"""Crash-safe persistence of datastores as XML files.

A datastore file is replaced, never rewritten: the new content goes to a temporary
file in the same directory, is flushed and fsync'ed, then ``os.replace`` swaps it in
and the directory is fsync'ed so the rename itself is durable. A SIGKILL at any
instant therefore leaves either the old or the new file; a stray temporary file is
ignored (and removed) on the next start.

Datastores written on every commit (running) are journaled instead (``journal.py``):
each version is appended to ``<name>.journal`` with one fsync, and ``<name>.xml`` is
rewritten as above only when the journal is compacted. The version that loads is the
journal's last complete record, else the file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from qnms.netconf.datastore import journal as journals
from qnms.netconf.datastore.journal import Journal, fsync_dir, read_last
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


def remove_stale_temps(directory: Path) -> None:
    """Temporary files of writes interrupted by a crash: never valid, just garbage."""
    for p in directory.glob(TMP_PREFIX + "*"):
        with contextlib.suppress(OSError):
            p.unlink()


XML_DECL = b"<?xml version='1.0' encoding='utf-8'?>\n"  # as lxml writes it for utf-8


def text_of(tree: etree._Element) -> bytes:
    """``tree`` as UTF-8 XML without a declaration (what a reply embeds)."""
    return etree.tostring(tree, encoding="UTF-8")


def serialise(tree: etree._Element, text: Callable[[etree._Element], bytes] = text_of) -> bytes:
    """A datastore file's bytes: the declaration, then ``text(tree)`` (byte for byte what
    lxml writes with ``xml_declaration``)."""
    return XML_DECL + text(tree)


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
    """``<name>.xml`` files in a state directory; with no directory, nothing is kept.

    Names in ``journaled`` (running, by default: it is written on every commit) also
    have a ``<name>.journal``; the others (startup, a confirmed commit's rollback) are
    rarely written and just replaced.
    """

    def __init__(
        self,
        directory: str | Path | None,
        *,
        journaled: tuple[str, ...] = ("running",),
        compact_bytes: int | None = None,
        text: Callable[[etree._Element], bytes] = text_of,
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._text = text  # a tree's text: the manager's, shared with get-config replies
        self.journaled = journaled
        self.compact_bytes = compact_bytes or journals.COMPACT_BYTES
        self._journals: dict[str, Journal] = {}
        self._paths: dict[str, Path] = {}
        self._waiting: dict[str, etree._Element] = {}  # saved with sync=False, not written
        if self.directory is not None:
            private_dir(self.directory)  # datastores are nobody else's business
            remove_stale_temps(self.directory)

    def path(self, name: str) -> Path | None:
        if self.directory is None:
            return None
        path = self._paths.get(name)
        if path is None:  # made once: a Path per save was a measurable part of an edit
            path = self._paths[name] = self.directory / f"{name}.xml"
        return path

    def journal_path(self, name: str) -> Path | None:
        if self.directory is None or name not in self.journaled:
            return None
        return self.directory / f"{name}.journal"

    def _journal(self, name: str, path: Path) -> Journal:
        journal = self._journals.get(name)
        if journal is None:
            jpath = self.journal_path(name)
            assert jpath is not None

            def compact(payload: bytes) -> None:
                if payload:
                    atomic_write(path, payload)
                else:
                    atomic_remove(path)

            journal = self._journals[name] = Journal(jpath, compact, self.compact_bytes)
        return journal

    def load(self, name: str) -> etree._Element | None:
        path = self.path(name)
        if path is None:
            return None
        source = path
        try:
            jpath = self.journal_path(name)
            payload, _ = read_last(jpath) if jpath is not None else (None, 0)
            if payload is not None and jpath is not None:
                source = jpath
                return parse(payload) if payload else None
            return read(path)
        except etree.XMLSyntaxError as exc:
            raise DatastoreError(f"{source}: not well-formed XML: {exc}") from exc

    def save(self, name: str, tree: etree._Element | None, *, sync: bool = True) -> bool:
        """Write (or with ``tree`` None remove) a datastore, durably when this returns.

        With ``sync`` False the new version of a journaled datastore is only kept until
        ``sync(name)`` writes it (group commit): versions that nobody was told of never
        need to reach the disk, so a batch of edits costs one serialisation, one record
        and one fsync, of its last version. True if the version waits so."""
        path = self.path(name)
        if path is None:
            return False
        if not sync and tree is not None and name in self.journaled:
            self._waiting[name] = tree
            return True
        self._waiting.pop(name, None)  # superseded by this newer version
        try:
            if name in self.journaled:
                journal = self._journal(name, path)
                journal.append(b"" if tree is None else serialise(tree, self._text))
                if tree is None:  # removal recorded: now drop the files themselves
                    atomic_remove(path)
                    journal.remove()
                    del self._journals[name]
            elif tree is None:
                atomic_remove(path)
            else:
                atomic_write(path, serialise(tree, self._text))
        except OSError as exc:
            raise RpcError(
                ErrorTag.OPERATION_FAILED, f"cannot save the {name} datastore: {exc}"
            ) from exc
        return False

    def sync(self, name: str) -> None:
        """Write the version of ``name`` saved with ``sync=False``, durably (one record,
        one fsync); an OSError if it could not be, and the journal is as it was."""
        tree = self._waiting.pop(name, None)
        path = self.path(name)
        if tree is not None and path is not None:
            self._journal(name, path).append(serialise(tree, self._text))
