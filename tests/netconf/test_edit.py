"""edit-config semantics (RFC 6241 7.2; RFC 7950 7.7.9, 7.8.6, 7.9.6) on the example model."""

from __future__ import annotations

import pytest
from lxml import etree
from support.datastores import EXT, NC, NS, TYPES, config, edit, error_of, net, node_xml, running

from qnms.netconf.datastore.edit import apply_edit
from qnms.yang.errors import ErrorTag, ErrorType, RpcError, RpcErrors

Q = f"{{{NS}}}"


def names(manager, tag: str = "node") -> list[str]:
    return [e.findtext(Q + "name") for e in running(manager).iter(Q + tag)]


def leaf(manager, path: str) -> str | None:
    found = running(manager).xpath(path, namespaces={"en": NS, "ex": EXT})
    return found[0].text if found else None


# ------------------------------------------------------------------------ merge


def test_merge_creates_missing_parents_and_reports_one_create(manager):
    changes = edit(manager, net(node_xml("a")))
    assert [(c.target, c.operation) for c in changes] == [("/en:network", "create")]
    assert changes[0].nsmap == {"en": NS}
    assert names(manager) == ["a"]


def test_merge_into_existing_entry_changes_only_the_given_leaf(two_nodes):
    changes = edit(two_nodes, net("<node><name>a</name><memory-count>9</memory-count></node>"))
    assert [(c.target, c.operation) for c in changes] == [
        ("/en:network/en:node[en:name='a']/en:memory-count", "merge")
    ]
    assert leaf(two_nodes, "//en:node[en:name='a']/en:memory-count") == "9"
    assert leaf(two_nodes, "//en:node[en:name='b']/en:memory-count") == "8"


def test_merge_of_an_unchanged_value_reports_no_change(two_nodes):
    assert edit(two_nodes, net(node_xml("a"))) == []


def test_list_entries_are_matched_by_all_their_keys(two_nodes):
    link = "<link><src>{}</src><dst>{}</dst><type>et:fiber</type><port>{}</port></link>"
    edit(two_nodes, net(link.format("a", "b", 1) + link.format("b", "a", 2)))
    edit(two_nodes, net("<link><src>a</src><dst>b</dst><port>7</port></link>"))
    ports = {
        (e.findtext(Q + "src"), e.findtext(Q + "dst")): e.findtext(Q + "port")
        for e in running(two_nodes).iter(Q + "link")
    }
    assert ports == {("a", "b"): "7", ("b", "a"): "2"}


def test_new_list_entry_gets_its_keys_first(manager):
    edit(manager, net("<node><memory-count>3</memory-count><name>z</name></node>"))
    entry = running(manager).find(f".//{Q}node")
    assert [etree.QName(c).localname for c in entry] == ["name", "memory-count"]


def test_identityref_values_are_stored_with_their_namespace(manager):
    edit(manager, net(node_xml("a") + node_xml("b")))
    cfg = config(
        f'<network xmlns="{NS}"><link xmlns:t="{TYPES}"><src>a</src><dst>b</dst>'
        f"<type>t:single-mode</type></link></network>"
    )
    edit(manager, cfg)
    typ = running(manager).find(f".//{Q}type")
    prefix, _, name = typ.text.partition(":")
    assert (typ.nsmap[prefix], name) == (TYPES, "single-mode")
    again = etree.fromstring(etree.tostring(running(manager)))  # survives serialisation
    t2 = again.find(f".//{Q}type")
    assert t2.nsmap[t2.text.partition(":")[0]] == TYPES


# ------------------------------------------------------------- create / delete


def test_create_on_existing_entry_returns_data_exists(two_nodes):
    cfg = net('<node nc:operation="create"><name>a</name><memory-count>1</memory-count></node>')
    with pytest.raises(RpcError) as ei:
        edit(two_nodes, cfg)
    err = error_of(ei)
    assert err.tag == ErrorTag.DATA_EXISTS
    assert err.type == ErrorType.APPLICATION
    assert err.path == "/en:network/en:node[en:name='a']"
    assert err.path_ns == {"en": NS}


def test_create_of_a_new_entry_succeeds(two_nodes):
    cfg = net('<node nc:operation="create"><name>c</name><memory-count>1</memory-count></node>')
    changes = edit(two_nodes, cfg)
    assert [(c.target, c.operation) for c in changes] == [
        ("/en:network/en:node[en:name='c']", "create")
    ]


def test_delete_of_missing_entry_returns_data_missing(two_nodes):
    with pytest.raises(RpcError) as ei:
        edit(two_nodes, net('<node nc:operation="delete"><name>zz</name></node>'))
    assert error_of(ei).tag == ErrorTag.DATA_MISSING
    assert error_of(ei).path == "/en:network/en:node[en:name='zz']"


def test_delete_removes_the_entry_and_reports_it(two_nodes):
    changes = edit(two_nodes, net('<node nc:operation="delete"><name>b</name></node>'))
    assert [(c.target, c.operation) for c in changes] == [
        ("/en:network/en:node[en:name='b']", "delete")
    ]
    assert names(two_nodes) == ["a"]


def test_remove_of_missing_entry_is_silent(two_nodes):
    assert edit(two_nodes, net('<node nc:operation="remove"><name>zz</name></node>')) == []


def test_delete_of_a_leaf(two_nodes):
    edit(two_nodes, net("<node><name>a</name><site>lab</site></node>"))
    edit(two_nodes, net('<node><name>a</name><site nc:operation="delete"/></node>'))
    assert leaf(two_nodes, "//en:node[en:name='a']/en:site") is None


def test_deleting_the_last_child_drops_the_empty_container(manager):
    edit(manager, net("<tag>x</tag>"))
    edit(manager, net('<tag nc:operation="delete">x</tag>'))
    assert len(running(manager)) == 0


def test_operation_is_inherited_by_descendants(two_nodes):
    cfg = net(node_xml("a"), attrs='nc:operation="create"')
    with pytest.raises(RpcError) as ei:
        edit(two_nodes, cfg)
    assert error_of(ei).tag == ErrorTag.DATA_EXISTS
    assert error_of(ei).path == "/en:network"


def test_leaf_list_entries_are_matched_by_value(manager):
    edit(manager, net("<tag>x</tag><tag>y</tag>"))
    edit(manager, net("<tag>y</tag><tag>z</tag>"))
    assert [e.text for e in running(manager).iter(Q + "tag")] == ["x", "y", "z"]
    changes = edit(manager, net('<tag nc:operation="delete">y</tag>'))
    assert [c.target for c in changes] == ["/en:network/en:tag[.='y']"]
    with pytest.raises(RpcError) as ei:
        edit(manager, net('<tag nc:operation="create">x</tag>'))
    assert error_of(ei).tag == ErrorTag.DATA_EXISTS


# ---------------------------------------------------------------------- replace


def test_replace_of_an_entry_drops_the_children_not_given(two_nodes):
    edit(two_nodes, net("<node><name>a</name><site>lab</site><role>repeater</role></node>"))
    cfg = net(
        '<node nc:operation="replace"><name>a</name><memory-count>2</memory-count>'
        "<site>lab</site></node>"
    )
    changes = edit(two_nodes, cfg)
    assert [(c.target, c.operation) for c in changes] == [
        ("/en:network/en:node[en:name='a']", "replace")
    ]
    entry = running(two_nodes).xpath("//en:node[en:name='a']", namespaces={"en": NS})[0]
    assert {etree.QName(c).localname: c.text for c in entry} == {
        "name": "a",
        "memory-count": "2",
        "site": "lab",
    }
    assert names(two_nodes) == ["a", "b"]  # only that entry was replaced


def test_default_operation_replace_replaces_the_whole_datastore(two_nodes):
    cfg = config(f'<settings xmlns="{EXT}"><level>1</level></settings>')
    changes = edit(two_nodes, cfg, default_operation="replace")
    assert {(c.target, c.operation) for c in changes} == {
        ("/en:network", "delete"),
        ("/ex:settings", "create"),
    }
    assert [etree.QName(c).localname for c in running(two_nodes)] == ["settings"]


# ------------------------------------------------------- default-operation none


def test_default_operation_none_leaves_unmentioned_values(two_nodes):
    cfg = net("<node><name>a</name><memory-count>60</memory-count></node>")
    assert edit(two_nodes, cfg, default_operation="none") == []
    assert leaf(two_nodes, "//en:node[en:name='a']/en:memory-count") == "4"


def test_default_operation_none_on_missing_node_returns_data_missing(two_nodes):
    cfg = net('<node><name>zz</name><site nc:operation="delete"/></node>')
    with pytest.raises(RpcError) as ei:
        edit(two_nodes, cfg, default_operation="none")
    assert error_of(ei).tag == ErrorTag.DATA_MISSING
    assert error_of(ei).path == "/en:network/en:node[en:name='zz']"


def test_default_operation_none_with_explicit_operations(two_nodes):
    cfg = net(
        '<node nc:operation="delete"><name>b</name></node>'
        '<node><name>a</name><site nc:operation="merge">roof</site></node>'
    )
    edit(two_nodes, cfg, default_operation="none")
    assert names(two_nodes) == ["a"]
    assert leaf(two_nodes, "//en:node[en:name='a']/en:site") == "roof"


def test_default_operation_none_creates_parents_for_an_explicit_create(manager):
    cfg = net('<node nc:operation="create"><name>a</name><memory-count>1</memory-count></node>')
    changes = edit(manager, cfg, default_operation="none")
    assert [(c.target, c.operation) for c in changes] == [("/en:network", "create")]


# ----------------------------------------------------------------- error-option


def test_continue_on_error_applies_the_good_parts(two_nodes):
    cfg = net(
        node_xml("c")
        + '<node nc:operation="delete"><name>zz</name></node>'
        + node_xml("d", 200)
        + '<node nc:operation="create"><name>a</name><memory-count>1</memory-count></node>'
    )
    with pytest.raises(RpcErrors) as ei:
        edit(two_nodes, cfg, error_option="continue-on-error")
    tags = sorted(e.tag for e in ei.value.errors)
    assert tags == sorted([ErrorTag.DATA_MISSING, ErrorTag.INVALID_VALUE, ErrorTag.DATA_EXISTS])
    assert names(two_nodes) == ["a", "b", "c"]
    assert list(two_nodes.bindings()["example-net"].network.node.keys()) == ["a", "b", "c"]


def test_rollback_on_error_is_all_or_nothing(two_nodes):
    cfg = net(node_xml("c") + node_xml("d", 200))
    with pytest.raises(RpcError):
        edit(two_nodes, cfg, error_option="rollback-on-error")
    assert names(two_nodes) == ["a", "b"]


# ------------------------------------------------------------ ordered-by user


def policies(manager) -> list[str]:
    return names(manager, "policy")


def pol(name: str, attrs: str = "") -> str:
    return f"<policy {attrs}><name>{name}</name></policy>"


def test_ordered_by_user_entries_keep_insertion_order_and_insert_first(manager):
    edit(manager, net(pol("p1") + pol("p2")))
    edit(manager, net(pol("p0", 'yang:insert="first"')))
    assert policies(manager) == ["p0", "p1", "p2"]
    edit(manager, net(pol("p1", 'yang:insert="last"')))
    assert policies(manager) == ["p0", "p2", "p1"]
    binding = manager.bindings()["example-net"].network.policy
    assert list(binding.keys()) == ["p0", "p2", "p1"]


def test_insert_before_and_after_a_key(manager):
    edit(manager, net(pol("a") + pol("c")))
    edit(manager, net(pol("b", 'yang:insert="after" yang:key="[en:name=\'a\']"')))
    edit(manager, net(pol("z", 'yang:insert="before" yang:key="[en:name=\'a\']"')))
    assert policies(manager) == ["z", "a", "b", "c"]


def test_insert_relative_to_a_missing_entry_is_a_bad_attribute(manager):
    edit(manager, net(pol("a")))
    with pytest.raises(RpcError) as ei:
        edit(manager, net(pol("b", 'yang:insert="after" yang:key="[en:name=\'nope\']"')))
    assert error_of(ei).tag == ErrorTag.BAD_ATTRIBUTE
    assert error_of(ei).app_tag == "missing-instance"


def test_insert_on_a_leaf_list_by_value(manager):
    edit(manager, net("<dns-server>b</dns-server><dns-server>c</dns-server>"))
    edit(manager, net('<dns-server yang:insert="first">a</dns-server>'))
    edit(manager, net('<dns-server yang:insert="after" yang:value="b">x</dns-server>'))
    assert [e.text for e in running(manager).iter(Q + "dns-server")] == ["a", "b", "x", "c"]


def test_insert_on_a_system_ordered_list_is_rejected(manager):
    with pytest.raises(RpcError) as ei:
        edit(manager, net(node_xml("a").replace("<node>", '<node yang:insert="first">')))
    assert error_of(ei).tag == ErrorTag.BAD_ATTRIBUTE


# ---------------------------------------------------------------------- choice


def test_creating_a_node_of_one_case_removes_the_other_case(two_nodes):
    edit(two_nodes, net("<node><name>a</name><ion-species>Ca40</ion-species></node>"))
    changes = edit(two_nodes, net("<node><name>a</name><wavelength>1550</wavelength></node>"))
    assert {(c.target, c.operation) for c in changes} == {
        ("/en:network/en:node[en:name='a']/en:wavelength", "create"),
        ("/en:network/en:node[en:name='a']/en:ion-species", "delete"),
    }
    assert leaf(two_nodes, "//en:node[en:name='a']/en:ion-species") is None


def test_two_cases_in_one_edit_is_a_bad_element(two_nodes):
    cfg = net("<node><name>a</name><ion-species>Ca</ion-species><loss>0.1</loss></node>")
    with pytest.raises(RpcError) as ei:
        edit(two_nodes, cfg)
    assert error_of(ei).tag == ErrorTag.BAD_ELEMENT


# --------------------------------------------------------------- apply_edit API


def test_apply_edit_works_on_a_bare_tree(schema):
    root = etree.Element(f"{{{NC}}}data")
    changes, errors = apply_edit(schema, root, net(node_xml("a")))
    assert errors == []
    assert [c.path for c in changes] == ["/en:network"]
    assert root.find(f"{Q}network/{Q}node/{Q}name").text == "a"


def test_augmented_nodes_use_the_augmenting_module_prefix(two_nodes):
    cfg = net(f'<node><name>a</name><vendor xmlns="{EXT}">acme</vendor></node>')
    changes = edit(two_nodes, cfg)
    assert changes[0].target == "/en:network/en:node[en:name='a']/ex:vendor"
    assert changes[0].nsmap == {"en": NS, "ex": EXT}
    assert two_nodes.bindings()["example-net"].network.node["a"].vendor == "acme"


def test_replacing_a_container_with_nothing_deletes_it(two_nodes):
    changes = edit(two_nodes, config(f'<network xmlns="{NS}" nc:operation="replace"/>'))
    assert [(c.target, c.operation) for c in changes] == [("/en:network", "delete")]
    assert len(running(two_nodes)) == 0
    assert len(two_nodes.bindings()["example-net"].network.node) == 0
