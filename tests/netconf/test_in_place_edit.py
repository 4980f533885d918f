"""A leaf value replaced in place skips the sibling-counting checks above it (issue 13,
one small edit at a time): what that shortcut must still refuse, and which changes the
editor may mark as in place."""

from __future__ import annotations

import pytest
from lxml import etree
from support.datastores import NS, edit, net, node_xml

from qnms.netconf.datastore.edit import apply_edit
from qnms.netconf.datastore.manager import DatastoreManager
from qnms.yang.errors import ErrorTag, RpcError
from qnms.yang.schema import Schema

LINK = "<link><src>{}</src><dst>{}</dst><type>et:fiber</type><port>{}</port></link>"
ET = 'xmlns:et="urn:example:types"'


@pytest.fixture
def linked(manager: DatastoreManager) -> DatastoreManager:
    edit(manager, net(node_xml("a") + node_xml("b") + LINK.format("a", "b", 1), ET))
    edit(manager, net(LINK.format("b", "a", 2), ET))
    return manager


def c14n(manager: DatastoreManager) -> bytes:
    return etree.tostring(manager.get_config("running"), method="c14n")


def test_a_value_replaced_in_place_that_breaks_unique_is_refused(linked) -> None:
    """Only the level of the link list sees the duplicate port: a shortcut that skipped
    every level above an in-place leaf would accept it."""
    before = c14n(linked)
    with pytest.raises(RpcError) as err:
        edit(linked, net("<link><src>b</src><dst>a</dst><port>1</port></link>"))
    assert err.value.tag == ErrorTag.OPERATION_FAILED
    assert err.value.app_tag == "data-not-unique"
    assert c14n(linked) == before


def test_a_bad_value_replaced_in_place_is_refused(linked) -> None:
    before = c14n(linked)
    with pytest.raises(RpcError) as err:
        edit(linked, net("<node><name>a</name><memory-count>lots</memory-count></node>"))
    assert err.value.tag == ErrorTag.INVALID_VALUE
    assert c14n(linked) == before


def test_a_value_replaced_in_place_is_applied(linked) -> None:
    changes = edit(
        linked, net(node_xml("a", 9) + "<link><src>b</src><dst>a</dst><port>7</port></link>")
    )
    assert sorted(c.operation for c in changes) == ["merge", "merge"]
    run = linked.get_config("running")
    q = {"en": NS}
    assert run.xpath("//en:node[en:name='a']/en:memory-count/text()", namespaces=q) == ["9"]
    assert run.xpath("//en:link[en:src='b']/en:port/text()", namespaces=q) == ["7"]


def test_only_a_leaf_that_stood_is_in_place(schema: Schema, linked) -> None:
    """A created leaf may change what is counted above it (a case of a choice, say):
    it must not be marked in place; nor a deleted one, nor a created entry."""
    tree = linked.get_config("running")
    cfg = net(
        node_xml("a", 5, "<wavelength>1550</wavelength>")
        + node_xml("c")
        + '<node><name>b</name><memory-count xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"'
        ' nc:operation="delete"/></node>'
    )
    changes, errors = apply_edit(schema, tree, cfg)
    assert not errors
    marked = {(c.path, c.operation): c.in_place for c in changes}
    node = "/en:network/en:node[en:name='{}']"
    assert marked == {
        (node.format("a") + "/en:memory-count", "merge"): True,
        (node.format("a") + "/en:wavelength", "create"): False,
        (node.format("c"), "create"): False,
        (node.format("b") + "/en:memory-count", "delete"): False,
    }
