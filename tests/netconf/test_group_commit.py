"""Group commit (issue 13): edits of running share one fsync, none acknowledged before it.

The datastore layer: deferred edits (``durable=False``) are made durable by one
``sync``, a failed fsync undoes them and is the error of every session that made one,
a kill -9 loses nothing that was synced. The session: a pipelining client's edits are
answered after one fsync, in one write, and never before the fsync that covers them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from support.datastores import MODULES, NS, names, net, node_xml
from support.processes import stop_process
from support.servers import FIXTURES, Q, ServerThread, error_fields, raw_session

from qnms.netconf.datastore import journal as journals
from qnms.netconf.datastore import storage
from qnms.netconf.datastore.manager import DatastoreManager
from qnms.netconf.protocol.framing import encode_message
from qnms.netconf.protocol.session import NetconfSession
from qnms.yang.errors import ErrorTag, RpcError

SYNCS = ("fsync", "fdatasync")  # the journal fdatasyncs a record written over its zeros


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every os.fsync and os.fdatasync call from now on (the descriptors), still done
    for real."""
    calls: list[int] = []
    for name in SYNCS:
        real = getattr(os, name)

        def sync(fd: int, real: Callable[[int], None] = real) -> None:
            calls.append(fd)
            real(fd)

        monkeypatch.setattr(os, name, sync)
    return calls


def failing_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    def fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    for name in SYNCS:
        monkeypatch.setattr(os, name, fsync)


def started(tmp_path: Path) -> DatastoreManager:
    """A persisted manager whose journal exists already (its first append fsyncs the
    directory too, which is not what these tests count)."""
    m = DatastoreManager(MODULES, state_dir=tmp_path)
    m.edit_config("running", net(node_xml("base")), session_id=1)
    return m


# ------------------------------------------------------------------ datastore layer


def test_deferred_edits_are_made_durable_by_one_fsync(tmp_path: Path, fsyncs: list[int]) -> None:
    m = started(tmp_path)
    fsyncs.clear()
    for i in range(5):
        m.edit_config("running", net(node_xml(f"n{i}")), session_id=1, durable=False)
    assert fsyncs == []  # installed, not yet written
    m.sync(1)
    assert len(fsyncs) == 1
    m.sync(1)  # nothing left to sync: no second fsync
    assert len(fsyncs) == 1
    loaded = DatastoreManager(MODULES, state_dir=tmp_path).get_config("running")
    assert names(loaded) == ["base", *[f"n{i}" for i in range(5)]]


def test_a_synchronous_write_covers_the_deferred_ones(tmp_path: Path, fsyncs: list[int]) -> None:
    m = started(tmp_path)
    m.edit_config("running", net(node_xml("deferred")), session_id=1, durable=False)
    m.edit_config("running", net(node_xml("server")), session_id=0)  # durable=True
    fsyncs.clear()
    m.sync(1)
    assert fsyncs == []  # the server's own write fsync'ed the journal, both records
    loaded = DatastoreManager(MODULES, state_dir=tmp_path).get_config("running")
    assert names(loaded) == ["base", "deferred", "server"]


def test_a_failed_group_fsync_undoes_every_deferred_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = started(tmp_path)
    heard: list[tuple[list[str], int]] = []
    m.add_listener(lambda changes, sid: heard.append(([c.operation for c in changes], sid)))
    m.edit_config("running", net(node_xml("a")), session_id=1, durable=False)
    m.edit_config("running", net(node_xml("b")), session_id=2, durable=False)
    assert names(m.get_config("running")) == ["base", "a", "b"]
    with monkeypatch.context() as patch:
        failing_fsync(patch)
        with pytest.raises(RpcError) as first:
            m.sync(1)
    assert first.value.tag is ErrorTag.OPERATION_FAILED
    assert "undone" in first.value.message
    assert names(m.get_config("running")) == ["base"]  # back to the durable tree
    assert names(m.get_config("candidate")) == ["base"]  # a clean candidate follows
    assert heard[-1] == (["delete", "delete"], 0)  # listeners hear the undo
    with pytest.raises(RpcError):  # session 2's edit was lost too: told once
        m.sync(2)
    m.sync(2)
    m.sync(3)  # a session that edited nothing has nothing to hear
    assert names(DatastoreManager(MODULES, state_dir=tmp_path).get_config("running")) == ["base"]
    m.edit_config("running", net(node_xml("c")), session_id=1)  # and it goes on
    loaded = DatastoreManager(MODULES, state_dir=tmp_path).get_config("running")
    assert names(loaded) == ["base", "c"]


def test_a_session_ending_makes_its_unanswered_edits_durable(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    m = started(tmp_path)
    m.edit_config("running", net(node_xml("late")), session_id=4, durable=False)
    fsyncs.clear()
    m.release_session(4)
    assert len(fsyncs) == 1


def records(path: Path) -> int:
    """Complete records in a journal file (the zeros after them end them)."""
    data, count, pos = path.read_bytes(), 0, 0
    while pos < len(data):
        magic, length, _ = journals._HEADER.unpack_from(data, pos)
        if magic != journals.MAGIC:
            assert not data[pos:].strip(b"\0"), "nothing but zeros after the records"
            break
        pos, count = pos + journals._HEADER.size + length, count + 1
    return count


def test_a_batch_is_written_once_as_its_newest_version(tmp_path: Path) -> None:
    files = storage.StateFiles(tmp_path)
    files.save("running", net(node_xml("kept")))
    for i in range(5):
        assert files.save("running", net(node_xml(f"n{i}")), sync=False)
    assert records(tmp_path / "running.journal") == 1  # nothing written before the sync
    files.sync("running")
    assert records(tmp_path / "running.journal") == 2
    assert names(storage.StateFiles(tmp_path).load("running")) == ["n4"]
    files.sync("running")  # nothing waits: nothing written
    assert records(tmp_path / "running.journal") == 2


def test_a_synchronous_save_supersedes_the_waiting_version(tmp_path: Path) -> None:
    files = storage.StateFiles(tmp_path)
    files.save("running", net(node_xml("waiting")), sync=False)
    files.save("running", net(node_xml("newer")))
    files.sync("running")
    assert records(tmp_path / "running.journal") == 1
    assert names(storage.StateFiles(tmp_path).load("running")) == ["newer"]


def test_a_failed_sync_leaves_the_journal_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = storage.StateFiles(tmp_path)
    files.save("running", net(node_xml("kept")))
    size = (tmp_path / "running.journal").stat().st_size
    assert files.save("running", net(node_xml("lost")), sync=False)
    with monkeypatch.context() as patch:
        failing_fsync(patch)
        with pytest.raises(OSError):
            files.sync("running")
    assert (tmp_path / "running.journal").stat().st_size == size
    assert names(storage.StateFiles(tmp_path).load("running")) == ["kept"]
    files.sync("running")  # the failed version is not retried
    files.save("running", net(node_xml("next")))
    assert names(storage.StateFiles(tmp_path).load("running")) == ["next"]


def test_a_synced_batch_replays_after_a_torn_tail(tmp_path: Path) -> None:
    files = storage.StateFiles(tmp_path)
    for i in range(3):
        files.save("running", net(node_xml(f"n{i}")), sync=False)
    files.sync("running")
    with (tmp_path / "running.journal").open("ab") as f:
        f.write(journals.MAGIC + b"\xff\x00\x00\x00torn")  # a crash inside the next append
    again = storage.StateFiles(tmp_path)
    assert names(again.load("running")) == ["n2"]
    again.save("running", net(node_xml("n3")), sync=False)
    again.sync("running")  # the torn tail is cut off before the record
    assert names(storage.StateFiles(tmp_path).load("running")) == ["n3"]
    assert records(tmp_path / "running.journal") == 2


GROUP_WRITER = """
import sys
sys.path.insert(0, {tests!r})
from support.datastores import MODULES, net, node_xml
from qnms.netconf.datastore import journal
from qnms.netconf.datastore.manager import DatastoreManager
journal.COMPACT_BYTES = 4096  # compactions among the groups too
m = DatastoreManager(MODULES, state_dir={state!r})
print("ready", flush=True)
i = 0
while True:
    for _ in range(4):
        m.edit_config("running", net(node_xml(f"n{{i}}")), session_id=1, durable=False)
        i += 1
    m.sync(1)
    print("synced", i, flush=True)
"""


def test_sigkill_during_group_commits_loses_nothing_synced(tmp_path: Path) -> None:
    script = GROUP_WRITER.format(tests=str(Path(__file__).parents[1]), state=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        synced = 0
        while synced < 40:  # several compactions in
            synced = int(proc.stdout.readline().split()[1])
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        stop_process(proc)
    loaded = names(DatastoreManager(MODULES, state_dir=tmp_path).get_config("running"))
    assert loaded == [f"n{i}" for i in range(len(loaded))]  # a prefix, in order
    assert len(loaded) >= synced


# ----------------------------------------------------------------------- sessions


def edit_rpc(message_id: int, name: str) -> str:
    return (
        f'<rpc message-id="{message_id}" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f"<edit-config><target><running/></target><config>"
        f'<network xmlns="{NS}">{node_xml(name)}</network></config></edit-config></rpc>'
    )


@pytest.fixture
def persisted_server(
    server_factory: Callable[..., ServerThread], tmp_path: Path
) -> tuple[ServerThread, DatastoreManager]:
    ds = DatastoreManager.for_tests(FIXTURES, state_dir=tmp_path / "ds")
    return server_factory(ds), ds


def record_order(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """'defer' (an edit installed, not yet written), 'fsync' and 'send' events, in the
    order they happen."""
    events: list[str] = []
    real_save = storage.StateFiles.save
    real_send_many = NetconfSession.send_many
    for name in SYNCS:
        real_sync = getattr(os, name)

        def sync(fd: int, real: Callable[[int], None] = real_sync) -> None:
            real(fd)
            events.append("fsync")

        monkeypatch.setattr(os, name, sync)

    def save(self: storage.StateFiles, name: str, tree: Any, *, sync: bool = True) -> bool:
        deferred = real_save(self, name, tree, sync=sync)
        if deferred:
            events.append("defer")
        return deferred

    async def send_many(self: NetconfSession, messages: list[bytes]) -> bool:
        events.append(f"send {len(messages)}")
        return await real_send_many(self, messages)

    monkeypatch.setattr(storage.StateFiles, "save", save)
    monkeypatch.setattr(NetconfSession, "send_many", send_many)
    return events


async def pipelined(port: int, names_: list[str]) -> list[etree._Element]:
    """Send one edit per name in one write, then read every reply (in order)."""
    c = await raw_session(port)
    try:
        c.send_raw(b"".join(c_frame(c, edit_rpc(i, n)) for i, n in enumerate(names_)))
        replies = []
        for _ in names_:
            raw = await c.recv(10)
            assert raw is not None
            replies.append(etree.fromstring(raw))
        return replies
    finally:
        await c.close()


def c_frame(c: Any, body: str) -> bytes:
    return encode_message(body.encode(), c.chunked)


def test_pipelined_edits_are_answered_after_one_fsync_in_one_write(
    persisted_server: tuple[ServerThread, DatastoreManager], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ds = persisted_server
    events = record_order(monkeypatch)
    batch = [f"p{i}" for i in range(8)]
    replies = asyncio.run(pipelined(server.port, batch))
    assert [r.get("message-id") for r in replies] == [str(i) for i in range(8)]
    assert all(r.find(Q + "ok") is not None for r in replies)
    unsynced = False
    for event in events:  # no reply leaves while an edit waits for its fsync
        if event == "defer":
            unsynced = True
        elif event == "fsync":
            unsynced = False
        else:
            assert not unsynced, events
    assert events.count("defer") == 8
    assert events.count("fsync") <= 4  # shared: one per batch (8 requests, one write)
    assert sum(int(e.split()[1]) for e in events if e.startswith("send")) >= 8
    assert names(server.call(lambda: ds.get_config("running")))[-8:] == batch


def test_a_failed_fsync_answers_the_batch_with_errors_and_changes_nothing(
    persisted_server: tuple[ServerThread, DatastoreManager], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ds = persisted_server
    before = names(server.call(lambda: ds.get_config("running")))
    failing_fsync(monkeypatch)
    replies = asyncio.run(pipelined(server.port, ["f0", "f1", "f2"]))
    monkeypatch.undo()
    for reply in replies:
        errors = error_fields(reply)
        assert errors and errors[0]["tag"] == "operation-failed", etree.tostring(reply)
    assert names(server.call(lambda: ds.get_config("running"))) == before


def test_edits_in_the_writer_thread_are_durable_there(
    server_factory: Callable[..., ServerThread], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = DatastoreManager.for_tests(FIXTURES, state_dir=tmp_path / "ds")
    server = server_factory(ds, offload=True)
    events = record_order(monkeypatch)
    replies = asyncio.run(pipelined(server.port, ["w0", "w1", "w2"]))
    assert all(r.find(Q + "ok") is not None for r in replies)
    assert "defer" not in events  # no group commit: each edit written and fsync'ed
    assert events.count("fsync") >= 3
    assert names(server.call(lambda: ds.get_config("running")))[-3:] == ["w0", "w1", "w2"]
