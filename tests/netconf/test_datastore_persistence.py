"""The datastores' persistence: reconstruction, initial config, failed writes, SIGKILL
during writes and compaction, the journal, values that survive a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree
from support.datastores import NC, NS, TYPES, config, names, net, node_xml, refused
from support.processes import stop_process

from qnms.netconf.datastore import journal, storage
from qnms.netconf.datastore.manager import DatastoreError, DatastoreManager
from qnms.yang.errors import ErrorTag

Q = f"{{{NS}}}"


# ----------------------------------------------------------------- persistence


def test_running_survives_reconstruction(tmp_path, schema, bindings):
    first = DatastoreManager(schema, state_dir=tmp_path, bindings=bindings)
    first.edit_config("running", net(node_xml("a") + "<tag>t</tag>"), session_id=1)
    again = DatastoreManager(schema, state_dir=tmp_path, bindings=bindings)
    assert names(again.get_config("running")) == ["a"]
    assert list(again.bindings()["example-net"].network.node.keys()) == ["a"]


def test_initial_config_is_used_only_without_persisted_running(tmp_path, schema):
    initial = config(f'<network xmlns="{NS}">{node_xml("init")}</network>')
    first = DatastoreManager(schema, state_dir=tmp_path, initial=initial)
    assert names(first.get_config("running")) == ["init"]
    first.edit_config("running", net(node_xml("later")), session_id=1)
    again = DatastoreManager(schema, state_dir=tmp_path, initial=initial)
    assert names(again.get_config("running")) == ["init", "later"]


def test_initial_config_may_be_a_file_or_a_single_top_level_node(tmp_path, schema):
    path = tmp_path / "net.xml"
    path.write_text(f'<network xmlns="{NS}">{node_xml("f")}</network>')
    assert names(DatastoreManager(schema, initial=path).get_config("running")) == ["f"]
    top = etree.fromstring(path.read_bytes())
    assert names(DatastoreManager(schema, initial=top).get_config("running")) == ["f"]


def test_running_is_taken_from_startup_when_missing(tmp_path, schema):
    first = DatastoreManager(schema, state_dir=tmp_path)
    first.edit_config("running", net(node_xml("s")), session_id=1)
    first.copy_config("startup", "running", session_id=1)
    (tmp_path / "running.xml").unlink(missing_ok=True)  # running lives in its journal
    (tmp_path / "running.journal").unlink()
    again = DatastoreManager(schema, state_dir=tmp_path, initial=net(node_xml("ignored")))
    assert names(again.get_config("running")) == ["s"]


def test_invalid_persisted_running_is_refused(tmp_path, schema):
    (tmp_path / "running.xml").write_text(
        f'<data xmlns="{NC}"><network xmlns="{NS}">{node_xml("a", 300)}</network></data>'
    )
    with pytest.raises(DatastoreError, match="memory-count"):
        DatastoreManager(schema, state_dir=tmp_path)
    (tmp_path / "running.xml").write_text("<data><unclosed>")
    with pytest.raises(DatastoreError, match="well-formed"):
        DatastoreManager(schema, state_dir=tmp_path)


def test_a_partially_written_temp_file_does_not_corrupt_state(tmp_path, schema):
    first = DatastoreManager(schema, state_dir=tmp_path)
    first.edit_config("running", net(node_xml("a")), session_id=1)
    (tmp_path / f"{storage.TMP_PREFIX}running.xml.abc").write_bytes(b"<data xmlns=")
    again = DatastoreManager(schema, state_dir=tmp_path)
    assert names(again.get_config("running")) == ["a"]
    assert not list(tmp_path.glob(storage.TMP_PREFIX + "*"))


@pytest.mark.parametrize("failing", ["pwrite", "fdatasync"])
def test_a_failed_write_leaves_the_old_file_and_the_old_state(
    tmp_path, schema, monkeypatch, failing
):
    manager = DatastoreManager(schema, state_dir=tmp_path)
    manager.edit_config("running", net(node_xml("a")), session_id=1)
    real = getattr(os, failing)

    def crash(fd, *args):
        if failing == "pwrite":  # half the record reaches the file, then the disk fails
            real(fd, bytes(args[0][: len(args[0]) // 2]), *args[1:])
        raise OSError("disk on fire")

    monkeypatch.setattr(os, failing, crash)
    err = refused(manager.edit_config, "running", net(node_xml("b")), session_id=1)
    assert err.tag == ErrorTag.OPERATION_FAILED
    monkeypatch.undo()
    assert names(manager.get_config("running")) == ["a"]
    assert names(DatastoreManager(schema, state_dir=tmp_path).get_config("running")) == ["a"]
    manager.edit_config("running", net(node_xml("c")), session_id=1)  # appends go on
    assert names(DatastoreManager(schema, state_dir=tmp_path).get_config("running")) == ["a", "c"]
    assert not list(tmp_path.glob(storage.TMP_PREFIX + "*"))


def test_a_failed_file_replace_leaves_the_old_startup(tmp_path, schema, monkeypatch):
    manager = DatastoreManager(schema, state_dir=tmp_path)
    manager.edit_config("running", net(node_xml("a")), session_id=1)
    manager.copy_config("startup", "running", session_id=1)
    manager.edit_config("running", net(node_xml("b")), session_id=1)

    def crash(*_args):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    err = refused(manager.copy_config, "startup", "running", session_id=1)
    assert err.tag == ErrorTag.OPERATION_FAILED
    monkeypatch.undo()
    assert names(manager.get_config("startup")) == ["a"]
    assert names(DatastoreManager(schema, state_dir=tmp_path).get_config("startup")) == ["a"]
    assert not list(tmp_path.glob(storage.TMP_PREFIX + "*"))


KILLER = """
import os, sys, time
sys.path.insert(0, {tests!r})
from support.datastores import MODULES, net, node_xml
from qnms.netconf.datastore import journal
from qnms.netconf.datastore.manager import DatastoreManager
stage = {stage!r}
if stage:  # compact after every few commits, and stop inside the compaction
    journal.COMPACT_BYTES = 1
    real_replace = os.replace

    def replace(src, dst):
        if stage == "after-rename":
            real_replace(src, dst)
        print("compacting", flush=True)
        time.sleep(60)

    os.replace = replace
m = DatastoreManager(MODULES, state_dir={state!r})
print("ready", flush=True)
i = 0
while True:
    m.edit_config("running", net(node_xml(f"n{{i}}")), session_id=1)
    i += 1
    print("wrote", i, flush=True)
"""


def kill_writer(tmp_path: Path, stage: str = "", acknowledged: int = 3) -> int:
    """Run KILLER, SIGKILL it (after ``acknowledged`` edits, or once it is inside a
    compaction), return how many edits it had acknowledged by then (at least; the
    writer may be ahead of what was read, except when it stopped in a compaction)."""
    script = KILLER.format(tests=str(Path(__file__).parents[1]), state=str(tmp_path), stage=stage)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        done = 0
        # no fixed sleep: each readline blocks until the writer got that far
        while True:
            line = proc.stdout.readline().split()
            if line[0] == b"compacting":
                assert stage, "compacted with the default threshold already"
                break
            done = int(line[1])
            if not stage and done >= acknowledged:
                break  # killed while the writer is in the middle of the next edit
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        stop_process(proc)
    return done


def test_sigkill_during_writes_leaves_a_loadable_running(tmp_path, schema):
    done = kill_writer(tmp_path)
    loaded = names(DatastoreManager(schema, state_dir=tmp_path).get_config("running"))
    assert loaded == [f"n{i}" for i in range(len(loaded))]
    assert len(loaded) >= done >= 3  # every edit acknowledged before the kill, maybe more


@pytest.mark.parametrize("stage", ["before-rename", "after-rename"])
def test_sigkill_during_compaction_loses_nothing_acknowledged(tmp_path, schema, stage):
    done = kill_writer(tmp_path, stage)
    assert done >= 3  # compaction waits for the journal to hold a few versions
    assert (tmp_path / "running.journal").stat().st_size > 0  # killed before truncation
    loaded = names(DatastoreManager(schema, state_dir=tmp_path).get_config("running"))
    # the edit that triggered the compaction was fsync'ed in the journal before it
    assert loaded == [f"n{i}" for i in range(done + 1)]
    again = DatastoreManager(schema, state_dir=tmp_path)  # and the writer goes on
    again.edit_config("running", net(node_xml("after")), session_id=1)
    reloaded = names(DatastoreManager(schema, state_dir=tmp_path).get_config("running"))
    assert reloaded == [*loaded, "after"]


def test_journal_is_compacted_into_the_file(tmp_path, schema):
    files = storage.StateFiles(tmp_path, compact_bytes=1)
    for i in range(6):
        files.save("running", net(node_xml(f"n{i}")))
    assert (tmp_path / "running.xml").exists()  # compacted at least once
    _, held = journal.read_last(tmp_path / "running.journal")  # records; zeros follow
    assert held < (tmp_path / "running.xml").stat().st_size * 5
    with (tmp_path / "running.journal").open("ab") as f:
        f.write(b"QJR1 torn tail of a crashed append")
    again = storage.StateFiles(tmp_path)
    assert names(again.load("running")) == ["n5"]
    again.save("running", net(node_xml("n6")))  # the torn tail is cut off first
    assert names(storage.StateFiles(tmp_path).load("running")) == ["n6"]


def test_identityref_values_survive_persistence(tmp_path, schema):
    first = DatastoreManager(schema, state_dir=tmp_path)
    link = "<link><src>a</src><dst>b</dst><type>et:free-space</type></link>"
    first.edit_config("running", net(node_xml("a") + node_xml("b") + link), session_id=1)
    again = DatastoreManager(schema, state_dir=tmp_path)
    t = again.get_config("running").find(f".//{Q}type")
    assert (t.nsmap[t.text.split(":")[0]], t.text.split(":")[1]) == (TYPES, "free-space")
