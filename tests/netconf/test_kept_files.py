"""Descriptors kept open between appends (issue 13, one small edit at a time): a bounded
number per process, and never a write to a file that lost its name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qnms.netconf.datastore.descriptors import KeptFiles
from qnms.netconf.datastore.journal import Journal, read_last
from qnms.netconf.protocol.audit import AuditLog
from qnms.yang.changes import ConfigChange


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_at_most_limit_descriptors_stay_open(tmp_path: Path) -> None:
    kept = KeptFiles(limit=2)
    fds = [os.open(tmp_path / f"f{i}", os.O_RDWR | os.O_CREAT, 0o600) for i in range(3)]
    for i, fd in enumerate(fds):
        kept.put(f"f{i}", fd)
    assert not is_open(fds[0])  # the least recently used went
    assert kept.take("f0") is None
    assert kept.take("f1") == fds[1] and kept.take("f2") == fds[2]
    for fd in fds[1:]:
        os.close(fd)


def test_a_journal_removed_behind_its_kept_descriptor_is_written_by_name(
    tmp_path: Path,
) -> None:
    path = tmp_path / "running.journal"
    journal = Journal(path, lambda _payload: None)
    journal.append(b"<data>one</data>")
    os.unlink(path)
    journal.append(b"<data>two</data>")
    assert read_last(path)[0] == b"<data>two</data>"
    assert read_last(path)[1] == 8 + 4 + len(b"<data>two</data>")  # from the file's start


def test_a_journal_keeps_one_descriptor_across_appends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "running.journal"
    journal = Journal(path, lambda _payload: None)
    journal.append(b"<data>0</data>")
    opened: list[object] = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    for i in range(1, 5):
        journal.append(f"<data>{i}</data>".encode())
    assert opened == []
    assert read_last(path)[0] == b"<data>4</data>"


def test_an_audit_log_removed_behind_its_kept_descriptor_is_written_again(
    tmp_path: Path,
) -> None:
    audit = AuditLog(tmp_path, lambda _sid: ("admin", "127.0.0.1"))
    change = [ConfigChange("/a:x", "merge", {"a": "urn:a"})]
    audit.record(change, 1)
    log = tmp_path / "audit.log"
    os.unlink(log)
    audit.record(change, 1)
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and '"id":2' in lines[0]
