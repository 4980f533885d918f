"""edit-config errors (RFC 6241 7.2, appendix A): the rpc-error of each bad edit, and a
failed edit changes nothing."""

from __future__ import annotations

import pytest
from lxml import etree
from support.datastores import config, edit, error_of, net, node_xml, running

from qnms.yang.errors import ErrorTag, ErrorType, RpcError


def test_unknown_element_in_known_namespace(two_nodes):
    with pytest.raises(RpcError) as ei:
        edit(two_nodes, net("<node><name>a</name><colour>red</colour></node>"))
    err = error_of(ei)
    assert err.tag == ErrorTag.UNKNOWN_ELEMENT
    assert err.type == ErrorType.APPLICATION
    assert err.path == "/en:network/en:node[en:name='a']/en:colour"
    assert ("bad-element", "colour") in err.info


def test_unknown_namespace_names_element_and_namespace(manager):
    with pytest.raises(RpcError) as ei:
        edit(manager, config('<thing xmlns="urn:nowhere"/>'))
    err = error_of(ei)
    assert err.tag == ErrorTag.UNKNOWN_NAMESPACE
    assert ("bad-element", "thing") in err.info
    assert ("bad-namespace", "urn:nowhere") in err.info


def test_list_entry_without_key_returns_missing_element(manager):
    with pytest.raises(RpcError) as ei:
        edit(manager, net("<node><memory-count>3</memory-count></node>"))
    err = error_of(ei)
    assert err.tag == ErrorTag.MISSING_ELEMENT
    assert err.path == "/en:network/en:node"
    assert err.info == [("bad-element", "name")]


def test_list_entry_with_one_of_two_keys_returns_missing_element(manager):
    with pytest.raises(RpcError) as ei:
        edit(manager, net("<link><src>a</src><type>et:fiber</type></link>"))
    assert error_of(ei).info == [("bad-element", "dst")]


def test_bad_operation_value_returns_bad_attribute(two_nodes):
    with pytest.raises(RpcError) as ei:
        edit(two_nodes, net('<node nc:operation="destroy"><name>a</name></node>'))
    err = error_of(ei)
    assert err.tag == ErrorTag.BAD_ATTRIBUTE
    assert ("bad-attribute", "operation") in err.info
    assert ("bad-element", "node") in err.info


def test_writing_config_false_data_returns_invalid_value(two_nodes):
    with pytest.raises(RpcError) as ei:
        edit(two_nodes, net("<statistics><uptime>5</uptime></statistics>"))
    err = error_of(ei)
    assert err.tag == ErrorTag.INVALID_VALUE
    assert err.path == "/en:network/en:statistics"
    with pytest.raises(RpcError) as ei:
        edit(two_nodes, net("<node><name>a</name><stats><pairs>1</pairs></stats></node>"))
    assert error_of(ei).path == "/en:network/en:node[en:name='a']/en:stats"


def test_edit_config_of_startup_is_not_supported(manager):
    with pytest.raises(RpcError) as ei:
        manager.edit_config("startup", net(node_xml("a")), session_id=1)
    assert error_of(ei).tag == ErrorTag.OPERATION_NOT_SUPPORTED


def test_a_failed_edit_changes_nothing_not_even_the_bindings(two_nodes):
    before = etree.tostring(running(two_nodes))
    root = two_nodes.bindings("running")["example-net"]
    cfg = net(node_xml("c") + '<node nc:operation="delete"><name>zz</name></node>')
    with pytest.raises(RpcError):
        edit(two_nodes, cfg)
    assert etree.tostring(running(two_nodes)) == before
    assert list(root.network.node.keys()) == ["a", "b"]
