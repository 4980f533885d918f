"""An append-only journal of datastore versions: one fsync per commit (issue 13).

Replacing a datastore file on every commit (temporary file, fsync, rename, directory
fsync) cost about 1 ms per edit on a quiet disk, most of it the second fsync and the
rename. A journal appends the new version instead and fsyncs once; the version that
counts is the last complete record, else the base file beside it.

Record: ``QJR1``, payload length and CRC-32 (little-endian uint32 each), payload. The
payload is the whole serialised tree (empty: the datastore was removed), so replay is
"take the last record" and never depends on the schema or on replaying edits right.
A crash in the middle of an append leaves a torn tail that fails its length or CRC
check: it is ignored on load and cut off before the next append, and it was never
acknowledged (the caller answers only after ``append`` returned, i.e. after fsync).

Compaction, once the journal outgrows ``compact_bytes`` (and four times the newest
version, so a large datastore is not rewritten on every commit): the newest version is
written to the base file atomically, then the journal is truncated. A kill between
the two leaves a base and a journal whose last record are the same version; a kill
before the rename leaves the old base and the full journal. Either way the last
acknowledged version is what loads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

MAGIC = b"QJR1"
_HEADER = struct.Struct("<4sII")
COMPACT_BYTES = 256 * 1024  # journal size that triggers compaction (at least)


def read_last(path: Path) -> tuple[bytes | None, int]:
    """(payload of the last complete record or None, length of the valid prefix)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, 0
    last: bytes | None = None
    pos = 0
    while pos + _HEADER.size <= len(data):
        magic, length, crc = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + length
        if magic != MAGIC or end > len(data):
            break
        payload = data[pos + _HEADER.size : end]
        if zlib.crc32(payload) != crc:
            break
        last, pos = payload, end
    return last, pos


class Journal:
    """The journal file of one datastore; ``compact(payload)`` rewrites its base."""

    def __init__(
        self,
        path: Path,
        compact: Callable[[bytes], None],
        compact_bytes: int = COMPACT_BYTES,
    ) -> None:
        self.path = path
        self._compact = compact
        self.compact_bytes = compact_bytes
        self._checked = False  # this process cut any torn tail off (first append)
        self._size = 0  # bytes of complete records

    def _open(self) -> int:
        """The journal opened for appending (one descriptor per append: hundreds of
        agents in one process must not hold hundreds of files open). The first time,
        a torn tail of a crashed append (never acknowledged) is cut off, and a new
        file's name is made durable."""
        created = not self._checked and not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if not self._checked:
                _, valid = read_last(self.path)
                if os.fstat(fd).st_size > valid:
                    os.ftruncate(fd, valid)
                    os.fsync(fd)
                if created:
                    fsync_dir(self.path.parent)
                self._size, self._checked = valid, True
        except BaseException:
            os.close(fd)
            raise
        return fd

    def append(self, payload: bytes) -> None:
        """Append one version durably (fsync'ed when this returns); on any error the
        journal is cut back to what it held before and the error raised."""
        record = memoryview(_HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload)
        fd = self._open()
        try:
            done = 0
            while done < len(record):
                done += os.write(fd, record[done:])
            os.fsync(fd)
        except BaseException:
            self._cut_back(fd)
            raise
        finally:
            os.close(fd)
        self._size += len(record)
        if self._size > max(self.compact_bytes, 4 * len(record)):
            self.compact(payload)

    def _cut_back(self, fd: int) -> None:
        try:
            os.ftruncate(fd, self._size)
            os.fsync(fd)
        except OSError:  # the next append re-reads the file and cuts any torn tail
            log.exception("cannot cut %s back after a failed append", self.path)
            self._checked = False

    def compact(self, payload: bytes) -> None:
        """Make ``payload`` (the newest version) the base, then empty the journal.
        The commit is durable already: a failure here is logged and retried later."""
        try:
            self._compact(payload)
            fd = self._open()
            try:
                os.ftruncate(fd, 0)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._size = 0
        except OSError:
            log.exception("compaction of %s failed; the journal keeps growing", self.path)

    def remove(self) -> None:
        """Forget the journal (its datastore was removed, the base is gone already)."""
        self._checked, self._size = False, 0
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
            fsync_dir(self.path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
