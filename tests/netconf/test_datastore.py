"""The datastores: reads, candidate/commit, locks, copy/delete, bindings, listeners
(persistence: ``test_datastore_persistence.py``)."""

from __future__ import annotations

import pyangbind.lib.pybindJSON as pybindJSON
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from support.datastores import EXT, MODULES, NS, TYPES, config, names, net, node_xml, refused

from qnms.netconf.datastore.manager import DatastoreManager
from qnms.yang.errors import ErrorTag, ErrorType, RpcError, RpcErrors
from qnms.yang.tree import resolve_qname
from qnms.yang.validation import validate_tree

Q = f"{{{NS}}}"


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
    assert refused(manager.get_config, "scratchpad").tag == ErrorTag.INVALID_VALUE


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
    err = refused(manager.commit, session_id=1)
    assert err.tag == ErrorTag.MISSING_ELEMENT
    assert names(manager.get_config("running")) == []
    assert refused(manager.validate, "candidate").tag == ErrorTag.MISSING_ELEMENT
    manager.edit_config("candidate", net(node_xml("a")), session_id=1)
    manager.validate("candidate")
    manager.commit(session_id=1)


def test_test_only_changes_nothing(manager):
    assert manager.edit_config("running", net(node_xml("a")), session_id=1,
                               test_option="test-only") == []  # fmt: skip
    assert names(manager.get_config("running")) == []
    err = refused(manager.edit_config, "running", net(node_xml("a", 99)), session_id=1,
                   test_option="test-only")  # fmt: skip
    assert err.tag == ErrorTag.INVALID_VALUE


# ----------------------------------------------------------------------- locks


def test_lock_held_by_another_session_is_denied_with_its_session_id(manager):
    manager.lock("running", session_id=1)
    err = refused(manager.lock, "running", session_id=2)
    assert err.tag == ErrorTag.LOCK_DENIED
    assert err.type == ErrorType.PROTOCOL
    assert err.info == [("session-id", "1")]


def test_edit_of_a_datastore_locked_by_another_session_is_in_use(manager):
    manager.lock("running", session_id=1)
    err = refused(manager.edit_config, "running", net(node_xml("a")), session_id=2)
    assert err.tag == ErrorTag.IN_USE
    assert err.type == ErrorType.PROTOCOL
    manager.edit_config("running", net(node_xml("a")), session_id=1)  # the holder may
    assert refused(manager.copy_config, "running", "startup", session_id=2).tag == ErrorTag.IN_USE


def test_commit_needs_running_and_candidate_unlocked_by_others(manager):
    manager.edit_config("candidate", net(node_xml("a")), session_id=1)
    manager.lock("running", session_id=2)
    assert refused(manager.commit, session_id=1).tag == ErrorTag.IN_USE
    manager.unlock("running", session_id=2)
    manager.commit(session_id=1)


def test_candidate_with_uncommitted_changes_cannot_be_locked(manager):
    manager.edit_config("candidate", net(node_xml("a")), session_id=1)
    err = refused(manager.lock, "candidate", session_id=2)
    assert err.tag == ErrorTag.LOCK_DENIED
    manager.discard_changes(session_id=1)
    manager.lock("candidate", session_id=2)


def test_unlock_by_a_non_holder_fails(manager):
    assert refused(manager.unlock, "running", session_id=1).tag == ErrorTag.OPERATION_FAILED
    manager.lock("running", session_id=1)
    err = refused(manager.unlock, "running", session_id=2)
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
    assert refused(manager.copy_config, "running", "running", session_id=1).tag == (
        ErrorTag.INVALID_VALUE
    )


def test_delete_config_of_running_is_refused_but_startup_may_go(manager, tmp_path, schema):
    assert refused(manager.delete_config, "running", session_id=1).tag == (
        ErrorTag.OPERATION_NOT_SUPPORTED
    )
    persisted = DatastoreManager(schema, state_dir=tmp_path)
    persisted.copy_config("startup", "running", session_id=1)
    assert (tmp_path / "startup.xml").exists()
    persisted.delete_config("startup", session_id=1)
    assert not (tmp_path / "startup.xml").exists()
    assert len(persisted.get_config("startup")) == 0


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
    assert refused(lazy.edit_config, "running", net(node_xml("d", 0)), session_id=1).tag == (
        ErrorTag.INVALID_VALUE
    )


def test_binding_objects_out_of_step_are_rebuilt(manager):
    manager.edit_config("running", net(node_xml("a")), session_id=1)
    manager.bindings()["example-net"].network.node.delete("a")  # someone wrote to them
    manager.edit_config("running", net("<node><name>a</name><site>x</site></node>"), session_id=1)
    assert manager.bindings()["example-net"].network.node["a"].site == "x"
