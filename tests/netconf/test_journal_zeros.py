"""The journal writes its records over zeros it wrote ahead (issue 13, one edit at a time).

A record that fits in the zeros is made durable with ``fdatasync`` (data only: no
metadata commit); only a record that grows the file is fsync'ed, and it brings the
zeros for the next ones. Zeros end the records on load; anything else after the last
complete record (a torn append) is zeroed before a record goes there, so it can never
be read as part of the journal. A failed append leaves the file as it was.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from qnms.netconf.datastore import journal as journals
from qnms.netconf.datastore.journal import Journal, read_last

SYNCS = ("fsync", "fdatasync")


def versions(n: int) -> list[bytes]:
    return [f"<data>version {i}</data>".encode() for i in range(n)]


def never_compacted(_payload: bytes) -> None:
    raise AssertionError("no compaction expected here")


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every os.fsync / os.fdatasync call, each still done for real."""
    calls: list[str] = []
    for name in SYNCS:
        real = getattr(os, name)

        def sync(fd: int, real: Callable[[int], None] = real, name: str = name) -> None:
            calls.append(name)
            real(fd)

        monkeypatch.setattr(os, name, sync)
    return calls


def test_records_over_zeros_need_no_metadata_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncs: list[str]
) -> None:
    monkeypatch.setattr(journals, "EXTEND_BYTES", 256)
    path = tmp_path / "running.journal"
    journal = Journal(path, never_compacted, compact_bytes=1 << 20)
    payloads = versions(40)
    for payload in payloads:
        journal.append(payload)
    size = path.stat().st_size
    assert size % 256 == 0  # grown a whole extension at a time
    _, held = read_last(path)
    assert not path.read_bytes()[held:].strip(b"\0")  # zeros after the records
    grown = size // 256  # records are shorter than an extension: one each
    assert syncs.count("fsync") == grown + 1  # and the new file's directory, once
    assert syncs.count("fdatasync") == len(payloads) - grown
    assert read_last(path)[0] == payloads[-1]


def test_a_torn_tail_in_the_zeros_is_zeroed_before_the_next_record(tmp_path: Path) -> None:
    path = tmp_path / "running.journal"
    first = Journal(path, never_compacted)
    first.append(b"<data>kept</data>")
    _, held = read_last(path)
    torn = journals._HEADER.pack(journals.MAGIC, 4000, 0) + b"<data>half of a versi"
    with path.open("r+b") as f:  # a crash inside the next append
        f.seek(held)
        f.write(torn)
    assert read_last(path) == (b"<data>kept</data>", held)
    again = Journal(path, never_compacted)  # a new process
    again.append(b"<d/>")  # shorter than the torn bytes it is written over
    data = path.read_bytes()
    payload, end = read_last(path)
    assert payload == b"<d/>"
    assert not data[end:].strip(b"\0")  # no byte of the torn record is left


def test_a_journal_without_zeros_is_read_and_extended(tmp_path: Path) -> None:
    """A journal written by an older qnms (records up to its very end)."""
    path = tmp_path / "running.journal"
    old = b"".join(
        journals._HEADER.pack(journals.MAGIC, len(p), zlib.crc32(p)) + p for p in versions(3)
    )
    path.write_bytes(old)
    journal = Journal(path, never_compacted)
    journal.append(b"<data>new</data>")
    assert read_last(path)[0] == b"<data>new</data>"
    assert path.read_bytes().startswith(old)


@pytest.mark.parametrize("failing", ["fsync", "fdatasync", "pwrite"])
def test_a_failed_append_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    monkeypatch.setattr(journals, "EXTEND_BYTES", 128)
    path = tmp_path / "running.journal"
    journal = Journal(path, never_compacted, compact_bytes=1 << 20)
    journal.append(b"<data>kept</data>")
    big = b"<data>" + b"x" * 300 + b"</data>"  # does not fit: an extension (fsync)
    payload = big if failing == "fsync" else b"<data>lost</data>"  # fits: fdatasync
    before = path.read_bytes()
    real = getattr(os, failing)

    def crash(fd: int, *args: object) -> None:
        if failing == "pwrite":  # half the record reaches the file, then the disk fails
            data = args[0]
            assert isinstance(data, bytes | memoryview)
            real(fd, bytes(data[: len(data) // 2]), *args[1:])
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(os, failing, crash)
        with pytest.raises(OSError):
            journal.append(payload)
    assert path.read_bytes() == before  # same length, same bytes: zeros again
    journal.append(b"<data>next</data>")
    assert read_last(path)[0] == b"<data>next</data>"


def test_compaction_empties_the_journal_and_zeros_come_back(tmp_path: Path) -> None:
    path = tmp_path / "running.journal"
    bases: list[bytes] = []
    journal = Journal(path, bases.append, compact_bytes=1)
    for payload in versions(6):
        journal.append(payload)
    assert bases  # compacted (every few records here)
    payload, _ = read_last(path)
    assert payload in (None, versions(6)[-1])  # empty, or ends with the newest version
    journal.append(b"<data>after</data>")
    assert read_last(path)[0] == b"<data>after</data>"
