"""What the cheaper small edit (issue 13, one request at a time) must keep: a failed edit
changes nothing, a reader sees whole edits only, listeners and the reply get the same
changes, and the schema nodes' derived names survive the schema cache's pickling."""

from __future__ import annotations

import pickle
import threading

import pytest
from lxml import etree
from support.datastores import NS, net, node_xml

from qnms.netconf.datastore.manager import DatastoreManager
from qnms.yang.errors import RpcError

Q = f"{{{NS}}}"


def c14n(tree: etree._Element) -> bytes:
    return etree.tostring(tree, method="c14n")


@pytest.mark.parametrize("error_option", ["stop-on-error", "rollback-on-error"])
def test_a_failed_edit_leaves_running_byte_identical(manager, error_option) -> None:
    manager.edit_config("running", net(node_xml("a") + node_xml("b", 6)), session_id=1)
    before = c14n(manager.get_config("running"))
    # the first node's change is applied to the working copy before the second fails
    bad = net(
        node_xml("a", 9)
        + '<node xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="create">'
        "<name>b</name></node>"
    )
    with pytest.raises(RpcError) as err:
        manager.edit_config("running", bad, session_id=1, error_option=error_option)
    assert err.value.tag == "data-exists"
    assert c14n(manager.get_config("running")) == before
    assert c14n(manager.get_config("candidate")) == before


def test_a_value_the_checks_refuse_changes_nothing(manager) -> None:
    manager.edit_config("running", net(node_xml("a")), session_id=1)
    before = c14n(manager.get_config("running"))
    with pytest.raises(RpcError) as err:
        manager.edit_config(
            "running",
            net("<node><name>a</name><memory-count>lots</memory-count></node>"),
            session_id=1,
        )
    assert err.value.tag == "invalid-value"
    assert c14n(manager.get_config("running")) == before


def test_a_concurrent_reader_never_sees_half_an_edit(manager: DatastoreManager) -> None:
    """Each edit sets both nodes' memory-count to the same value; a reader in another
    thread must always see them equal."""
    manager.edit_config("running", net(node_xml("a", 1) + node_xml("b", 1)), session_id=1)
    stop = threading.Event()
    seen: list[tuple[str | None, ...]] = []

    def read() -> None:
        while not stop.is_set():
            tree = manager.get_config("running")
            counts = tuple(e.findtext(Q + "memory-count") for e in tree.iter(Q + "node"))
            if len(set(counts)) != 1:
                seen.append(counts)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(2, 65):  # memory-count is 1..64
            manager.edit_config("running", net(node_xml("a", i) + node_xml("b", i)), session_id=1)
    finally:
        stop.set()
        reader.join(10)
    assert seen == []
    assert [e.text for e in manager.get_config("running").iter(Q + "memory-count")] == ["64", "64"]


def test_listeners_and_the_reply_get_the_same_changes_in_their_own_lists(manager) -> None:
    manager.edit_config("running", net(node_xml("a")), session_id=3)
    heard: list[list] = []
    manager.add_listener(lambda changes, sid: heard.append(changes))
    got = manager.edit_config("running", net(node_xml("b") + node_xml("c")), session_id=3)
    assert [(c.target, c.operation) for c in got] == [
        ("/en:network/en:node[en:name='b']", "create"),
        ("/en:network/en:node[en:name='c']", "create"),
    ]
    assert heard == [got]
    assert heard[0] is not got  # a listener that keeps or changes its list cannot touch ours
    assert manager.edit_config("running", net(node_xml("b")), session_id=3) == []
    assert len(heard) == 1  # no change: nobody is told


def test_test_only_edits_report_and_install_nothing(manager) -> None:
    before = manager.get_config("running")
    assert (
        manager.edit_config("running", net(node_xml("a")), session_id=1, test_option="test-only")
        == []
    )
    assert c14n(manager.get_config("running")) == c14n(before)


def test_schema_nodes_keep_their_derived_names_through_pickling(schema) -> None:
    """``key``, ``tag`` and ``qname`` are computed once at compile and pickled with the
    node (the schema cache): after a round trip they still match name, ns and prefix."""
    loaded = pickle.loads(pickle.dumps(schema))
    count = 0
    for node in loaded.iter_nodes():
        assert node.key == (node.ns, node.name)
        assert node.tag == f"{{{node.ns}}}{node.name}"
        assert node.qname == f"{node.prefix}:{node.name}"
        count += 1
    assert count == sum(1 for _ in schema.iter_nodes()) > 10
    assert loaded.find("/en:network/en:node").tag == Q + "node"
