"""The datastores: reads, candidate/commit, locks, copy/delete, persistence, listeners."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pyangbind.lib.pybindJSON as pybindJSON
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from support.datastores import EXT, MODULES, NC, NS, TYPES, config, net, node_xml
from support.processes import stop_process

from qnms.netconf.datastore import journal, storage
from qnms.netconf.datastore.manager import DatastoreError, DatastoreManager
from qnms.yang.errors import ErrorTag, ErrorType, RpcError, RpcErrors
from qnms.yang.tree import resolve_qname
from qnms.yang.validation import validate_tree

Q = f"{{{NS}}}"


def names(tree) -> list[str]:
    return [e.findtext(Q + "name") for e in tree.iter(Q + "node")]


def rejected(fn, *args, **kw) -> RpcError:
    with pytest.raises(RpcError) as ei:
        fn(*args, **kw)
    return ei.value


# ----------------------------------------------------------------------- reads


def test_get_config_returns_a_copy(manager):
    manager.edit_config("running", net(node_xml("a")), session_id=1)
    copy = manager.get_config("running")
    copy.clear()
    assert names(manager.get_config("running")) == ["a"]


def test_get_merges_live_state_by_list_keys(schema, bindings):
    class State:
        def state(self):
            return [
                etree.fromstring(
                    f'<network xmlns="{NS}"><node><name>a</name><stats><pairs>7</pairs></stats>'
                    f"</node><statistics><uptime>5</uptime></statistics></network>"
                )
            ]

    manager = DatastoreManager(schema, bindings=bindings, state_provider=State())
    manager.edit_config("running", net(node_xml("a") + node_xml("b")), session_id=1)
    data = manager.get()
    nodes = data.findall(f"{Q}network/{Q}node")
    assert [n.findtext(Q + "name") for n in nodes] == ["a", "b"]
    assert nodes[0].findtext(f"{Q}stats/{Q}pairs") == "7"
    assert data.findtext(f"{Q}network/{Q}statistics/{Q}uptime") == "5"
    assert manager.get_config("running").find(f".//{Q}stats") is None


def test_get_keeps_the_prefixes_of_merged_identityref_values(schema):
    """Plain leaves are written in place, not copied (issue 13); a value with a prefix
    keeps its namespace declaration, declared in the state only on an ancestor."""

    class State:
        def state(self):
            return [
                etree.fromstring(
                    f'<network xmlns="{NS}" xmlns:q="{TYPES}"><node><name>a</name>'
                    "<memory-count>9</memory-count><stats><pairs>7</pairs></stats></node>"
                    "<link><src>a</src><dst>b</dst><type>q:fiber</type></link></network>"
                )
            ]

    manager = DatastoreManager(schema, state_provider=State())
    link = '<link><src>a</src><dst>b</dst><type xmlns:et="urn:example:types">et:fiber</type></link>'
    manager.edit_config("running", net(node_xml("a") + node_xml("b") + link), session_id=1)
    data = manager.get()
    node = data.find(f"{Q}network/{Q}node")
    assert (node.findtext(Q + "memory-count"), node.findtext(f"{Q}stats/{Q}pairs")) == ("9", "7")
    kind = data.find(f"{Q}network/{Q}link/{Q}type")
    assert resolve_qname(kind, kind.text) == (TYPES, "fiber")
    assert len(data.findall(f"{Q}network/{Q}link/{Q}type")) == 1


def test_unknown_datastore_is_invalid_value(manager):
    assert rejected(manager.get_config, "scratchpad").tag == ErrorTag.INVALID_VALUE


# ------------------------------------------------------------------ candidate


def test_candidate_edits_stay_out_of_running_until_commit(manager):
    seen = []
    manager.add_listener(lambda changes, sid: seen.append((changes, sid)))
    manager.edit_config("candidate", net(node_xml("a")), session_id=3)
    assert names(manager.get_config("running")) == []
    assert names(manager.get_config("candidate")) == ["a"]
    assert seen == []
    changes = manager.commit(session_id=3)
    assert [(c.target, c.operation) for c in changes] == [("/en:network", "create")]
    assert names(manager.get_config("running")) == ["a"]
    assert seen == [(changes, 3)]
    assert list(manager.bindings("running")["example-net"].network.node.keys()) == ["a"]


def test_commit_reports_fine_grained_changes(manager):
    manager.edit_config("running", net(node_xml("a") + node_xml("b")), session_id=1)
    manager.edit_config("candidate", net('<node nc:operation="delete"><name>b</name></node>'
                                         + node_xml("a", 9)), session_id=1)  # fmt: skip
    changes = manager.commit(session_id=1)
    assert {(c.target, c.operation) for c in changes} == {
        ("/en:network/en:node[en:name='b']", "delete"),
        ("/en:network/en:node[en:name='a']/en:memory-count", "replace"),
    }
    assert manager.bindings()["example-net"].network.node["a"].memory_count == 9


def test_discard_changes_reverts_the_candidate(manager):
    manager.edit_config("candidate", net(node_xml("a")), session_id=1)
    manager.discard_changes(session_id=1)
    assert names(manager.get_config("candidate")) == []
    assert manager.commit(session_id=1) == []


def test_clean_candidate_follows_running(manager):
    manager.edit_config("running", net(node_xml("a")), session_id=1)
    assert names(manager.get_config("candidate")) == ["a"]


def test_candidate_bindings_follow_candidate_edits(manager):
    manager.edit_config("candidate", net(node_xml("a")), session_id=1)
    assert list(manager.bindings("candidate")["example-net"].network.node.keys()) == ["a"]
    manager.edit_config("candidate", net(node_xml("b")), session_id=1)
    assert list(manager.bindings("candidate")["example-net"].network.node.keys()) == ["a", "b"]
    assert list(manager.bindings("running")["example-net"].network.node.keys()) == []


def test_test_option_set_defers_semantic_checks_of_the_candidate_to_commit(manager):
    manager.edit_config(
        "candidate", net("<node><name>a</name></node>"), session_id=1, test_option="set"
    )
    err = rejected(manager.commit, session_id=1)
    assert err.tag == ErrorTag.MISSING_ELEMENT
    assert names(manager.get_config("running")) == []
    assert rejected(manager.validate, "candidate").tag == ErrorTag.MISSING_ELEMENT
    manager.edit_config("candidate", net(node_xml("a")), session_id=1)
    manager.validate("candidate")
    manager.commit(session_id=1)


def test_test_only_changes_nothing(manager):
    assert manager.edit_config("running", net(node_xml("a")), session_id=1,
                               test_option="test-only") == []  # fmt: skip
    assert names(manager.get_config("running")) == []
    err = rejected(manager.edit_config, "running", net(node_xml("a", 99)), session_id=1,
                   test_option="test-only")  # fmt: skip
    assert err.tag == ErrorTag.INVALID_VALUE


# ----------------------------------------------------------------------- locks


def test_lock_held_by_another_session_is_denied_with_its_session_id(manager):
    manager.lock("running", session_id=1)
    err = rejected(manager.lock, "running", session_id=2)
    assert err.tag == ErrorTag.LOCK_DENIED
    assert err.type == ErrorType.PROTOCOL
    assert err.info == [("session-id", "1")]


def test_edit_of_a_datastore_locked_by_another_session_is_in_use(manager):
    manager.lock("running", session_id=1)
    err = rejected(manager.edit_config, "running", net(node_xml("a")), session_id=2)
    assert err.tag == ErrorTag.IN_USE
    assert err.type == ErrorType.PROTOCOL
    manager.edit_config("running", net(node_xml("a")), session_id=1)  # the holder may
    assert rejected(manager.copy_config, "running", "startup", session_id=2).tag == ErrorTag.IN_USE


def test_commit_needs_running_and_candidate_unlocked_by_others(manager):
    manager.edit_config("candidate", net(node_xml("a")), session_id=1)
    manager.lock("running", session_id=2)
    assert rejected(manager.commit, session_id=1).tag == ErrorTag.IN_USE
    manager.unlock("running", session_id=2)
    manager.commit(session_id=1)


def test_candidate_with_uncommitted_changes_cannot_be_locked(manager):
    manager.edit_config("candidate", net(node_xml("a")), session_id=1)
    err = rejected(manager.lock, "candidate", session_id=2)
    assert err.tag == ErrorTag.LOCK_DENIED
    manager.discard_changes(session_id=1)
    manager.lock("candidate", session_id=2)


def test_unlock_by_a_non_holder_fails(manager):
    assert rejected(manager.unlock, "running", session_id=1).tag == ErrorTag.OPERATION_FAILED
    manager.lock("running", session_id=1)
    err = rejected(manager.unlock, "running", session_id=2)
    assert err.tag == ErrorTag.OPERATION_FAILED
    assert err.type == ErrorType.PROTOCOL
    manager.unlock("running", session_id=1)
    assert manager.locks() == {}


def test_release_session_drops_locks_and_discards_its_candidate(manager):
    manager.lock("candidate", session_id=5)
    manager.lock("startup", session_id=5)
    manager.edit_config("candidate", net(node_xml("a")), session_id=5)
    manager.release_session(5)
    assert manager.locks() == {}
    assert names(manager.get_config("candidate")) == []
    manager.lock("candidate", session_id=6)


# -------------------------------------------------------------- copy / delete


def test_copy_config_between_datastores(manager):
    manager.edit_config("running", net(node_xml("a")), session_id=1)
    manager.copy_config("startup", "running", session_id=1)
    assert names(manager.get_config("startup")) == ["a"]
    manager.edit_config("running", net(node_xml("b")), session_id=1)
    manager.copy_config("running", "startup", session_id=1)
    assert names(manager.get_config("running")) == ["a"]
    assert list(manager.bindings()["example-net"].network.node.keys()) == ["a"]


def test_copy_config_from_an_inline_config_replaces_running(manager):
    seen = []
    manager.add_listener(lambda changes, sid: seen.extend(c.operation for c in changes))
    manager.edit_config("running", net(node_xml("a")), session_id=1)
    manager.copy_config("running", config(f'<settings xmlns="{EXT}"><level>2</level></settings>'),
                        session_id=1)  # fmt: skip
    assert [etree.QName(c).localname for c in manager.get_config("running")] == ["settings"]
    assert seen == ["create", "delete", "create"]
    assert manager.bindings()["example-ext"].settings.level == 2


def test_copy_config_to_itself_is_invalid(manager):
    assert rejected(manager.copy_config, "running", "running", session_id=1).tag == (
        ErrorTag.INVALID_VALUE
    )


def test_delete_config_of_running_is_refused_but_startup_may_go(manager, tmp_path, schema):
    assert rejected(manager.delete_config, "running", session_id=1).tag == (
        ErrorTag.OPERATION_NOT_SUPPORTED
    )
    persisted = DatastoreManager(schema, state_dir=tmp_path)
    persisted.copy_config("startup", "running", session_id=1)
    assert (tmp_path / "startup.xml").exists()
    persisted.delete_config("startup", session_id=1)
    assert not (tmp_path / "startup.xml").exists()
    assert len(persisted.get_config("startup")) == 0


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
    err = rejected(manager.edit_config, "running", net(node_xml("b")), session_id=1)
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
    err = rejected(manager.copy_config, "startup", "running", session_id=1)
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


def test_module_list_for_capabilities_and_yang_library(manager):
    mods = {m.name: m for m in manager.modules}
    assert mods["example-net"].conformance == "implement"
    assert mods["example-net"].revision == "2024-01-01"
    assert mods["example-net"].features == ("fancy",)
    assert mods["example-types"].conformance == "import"
    assert mods["example-ext"].namespace == EXT
    assert mods["example-net"].path == MODULES[0].resolve()


# ------------------------------------------------- bindings mirror the trees

NAMES = st.sampled_from("abcd")


def _node_edit(name, memory, extra, op):
    attr = f' nc:operation="{op}"' if op else ""
    body = f"<memory-count>{memory}</memory-count>{extra}" if op not in ("delete", "remove") else ""
    return f"<node{attr}><name>{name}</name>{body}</node>"


EXTRAS = st.sampled_from(
    ["", "<site>x</site>", "<fidelity>0.50</fidelity>", "<position><y>1</y></position>",
     "<ion-species>Ca</ion-species>", "<wavelength>1550</wavelength>",
     "<hardware><model>m</model></hardware>",
     '<hardware><model nc:operation="remove"/></hardware>']
)  # fmt: skip
EDITS = st.one_of(
    st.builds(_node_edit, NAMES, st.integers(1, 64), EXTRAS,
              st.sampled_from([None, "replace", "create", "delete", "remove"])),
    st.builds(lambda v, op: f'<tag nc:operation="{op}">{v}</tag>', NAMES,
              st.sampled_from(["merge", "delete"])),
    st.builds(lambda v, where: f'<policy yang:insert="{where}"><name>{v}</name></policy>',
              NAMES, st.sampled_from(["first", "last"])),
    st.builds(lambda s, d: f"<link><src>{s}</src><dst>{d}</dst><type>et:fiber</type></link>",
              NAMES, NAMES),
)  # fmt: skip


def _dump(roots) -> dict[str, str]:
    return {m: pybindJSON.dumps(r, mode="ietf") for m, r in roots.items()}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(EDITS, st.sampled_from(["running", "candidate"])), max_size=6))
def test_binding_objects_always_mirror_the_trees(schema, bindings, steps):
    manager = DatastoreManager(schema, bindings=bindings)
    for xml, target in steps:
        try:
            manager.edit_config(target, net(xml), session_id=1)
            if target == "candidate":
                manager.commit(session_id=1)
        except (RpcError, RpcErrors):
            manager.discard_changes(session_id=1)
        tree = manager.get_config("running")
        fresh, problems = manager.binder.decode(tree)
        assert problems == []
        assert validate_tree(schema, tree) == []
        assert _dump(manager.bindings()) == _dump(fresh)


def test_lazy_bindings_are_built_on_first_use_and_then_kept_current(tmp_path, schema, bindings):
    first = DatastoreManager(schema, state_dir=tmp_path, bindings=bindings)
    first.edit_config("running", net(node_xml("a")), session_id=1)
    lazy = DatastoreManager(schema, state_dir=tmp_path, bindings=bindings, lazy_bindings=True)
    lazy.edit_config("running", net(node_xml("b")), session_id=1)
    assert list(lazy.bindings()["example-net"].network.node.keys()) == ["a", "b"]
    lazy.edit_config("running", net(node_xml("c")), session_id=1)
    assert list(lazy.bindings()["example-net"].network.node.keys()) == ["a", "b", "c"]
    assert rejected(lazy.edit_config, "running", net(node_xml("d", 0)), session_id=1).tag == (
        ErrorTag.INVALID_VALUE
    )


def test_binding_objects_out_of_step_are_rebuilt(manager):
    manager.edit_config("running", net(node_xml("a")), session_id=1)
    manager.bindings()["example-net"].network.node.delete("a")  # someone wrote to them
    manager.edit_config("running", net("<node><name>a</name><site>x</site></node>"), session_id=1)
    assert manager.bindings()["example-net"].network.node["a"].site == "x"


def test_identityref_values_survive_persistence(tmp_path, schema):
    first = DatastoreManager(schema, state_dir=tmp_path)
    link = "<link><src>a</src><dst>b</dst><type>et:free-space</type></link>"
    first.edit_config("running", net(node_xml("a") + node_xml("b") + link), session_id=1)
    again = DatastoreManager(schema, state_dir=tmp_path)
    t = again.get_config("running").find(f".//{Q}type")
    assert (t.nsmap[t.text.split(":")[0]], t.text.split(":")[1]) == (TYPES, "free-space")
