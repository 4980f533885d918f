"""Leafrefs checked only where an edit reaches (issue 13), with the same verdicts.

An edit checks the references it wrote and every reference onto what it removed or
changed, through an index of leafrefs by the schema steps that lead to them and to
their targets; references elsewhere are not looked at again.
"""

from __future__ import annotations

import pytest
from lxml import etree
from support.datastores import NS, edit, net, node_xml, rejected

from qnms.yang.change_validation import validate_changes
from qnms.yang.diff import diff
from qnms.yang.errors import ErrorTag, RpcError, RpcErrors
from qnms.yang.leafrefs import schema_refs
from qnms.yang.tree import as_data_tree
from qnms.yang.validation import validate_tree

Q = f"{{{NS}}}"
LINK = "<link><src>{}</src><dst>{}</dst><type>et:fiber</type></link>"


def names(manager, what: str) -> list[str]:
    tree = manager.get_config("running")
    return [e.findtext(Q + "src") or e.findtext(Q + "name") or "" for e in tree.iter(Q + what)]


@pytest.fixture
def nodes(manager):
    edit(manager, net("".join(node_xml(n) for n in ("a", "b", "c"))))
    return manager


def test_the_index_knows_both_references_onto_a_node_name(schema):
    refs = schema_refs(schema)
    onto = refs.onto[((NS, "network"), (NS, "node"), (NS, "name"))]
    assert sorted(r.path[-1].name for r in onto) == ["dst", "src"]
    # deleting a whole node, or the network, reaches them too
    assert set(map(id, onto)) <= set(map(id, refs.onto[((NS, "network"), (NS, "node"))]))
    assert set(map(id, onto)) <= set(map(id, refs.onto[((NS, "network"),)]))
    below = refs.below[((NS, "network"), (NS, "link"))]
    assert sorted(r.path[-1].name for r in below) == ["dst", "src"]


def test_a_dangling_reference_among_many_is_refused_with_its_path(nodes):
    links = [LINK.format("a", "b"), LINK.format("b", "c"), LINK.format("c", "zz")]
    err = rejected(nodes, net("".join(links)))
    assert err.tag == ErrorTag.DATA_MISSING and err.app_tag == "instance-required"
    assert err.path == "/en:network/en:link[en:src='c'][en:dst='zz']/en:dst"
    assert names(nodes, "link") == []  # nothing of the failed edit was applied


def test_a_relative_dangling_reference_is_refused_with_its_path(nodes):
    err = rejected(nodes, net(LINK.format("zz", "a")))
    assert err.path == "/en:network/en:link[en:src='zz'][en:dst='a']/en:src"


def test_a_reference_to_a_node_deleted_in_the_same_edit_is_refused(nodes):
    both = '<node nc:operation="delete"><name>b</name></node>' + LINK.format("a", "b")
    err = rejected(nodes, net(both))
    assert err.app_tag == "instance-required"
    assert err.path == "/en:network/en:link[en:src='a'][en:dst='b']/en:dst"
    assert names(nodes, "node") == ["a", "b", "c"]


def test_deleting_the_target_of_an_untouched_relative_reference_is_refused(nodes):
    edit(nodes, net(LINK.format("c", "a")))
    err = rejected(nodes, net('<node nc:operation="delete"><name>c</name></node>'))
    assert err.app_tag == "instance-required"
    assert err.path == "/en:network/en:link[en:src='c'][en:dst='a']/en:src"
    assert names(nodes, "node") == ["a", "b", "c"]


def test_replacing_the_list_without_a_referenced_node_is_refused(nodes):
    edit(nodes, net(LINK.format("a", "b")))
    keep = net(node_xml("a") + LINK.format("a", "b"), attrs='nc:operation="replace"')
    with pytest.raises((RpcError, RpcErrors)) as ei:
        edit(nodes, keep)
    errors = ei.value.errors if isinstance(ei.value, RpcErrors) else [ei.value]
    assert "/en:network/en:link[en:src='a'][en:dst='b']/en:dst" in [e.path for e in errors]
    assert names(nodes, "node") == ["a", "b", "c"]


def test_deleting_an_unreferenced_node_and_the_link_together_is_accepted(nodes):
    edit(nodes, net(LINK.format("a", "c")))
    both = '<node nc:operation="delete"><name>c</name></node>' + (
        '<link nc:operation="delete"><src>a</src><dst>c</dst></link>'
    )
    edit(nodes, net(both))
    assert names(nodes, "node") == ["a", "b"] and names(nodes, "link") == []


def test_continue_on_error_keeps_the_good_links_and_names_the_bad_one(nodes):
    links = [LINK.format("a", "b"), LINK.format("b", "zz"), LINK.format("b", "c")]
    with pytest.raises(RpcError) as ei:
        edit(nodes, net("".join(links)), error_option="continue-on-error")
    assert ei.value.path == "/en:network/en:link[en:src='b'][en:dst='zz']/en:dst"
    assert names(nodes, "link") == ["a", "b"]


def test_changes_elsewhere_do_not_look_at_old_references_again(schema):
    """validate_changes trusts the tree as it was; validate_tree looks at everything."""
    old = as_data_tree(schema, net(node_xml("a") + LINK.format("a", "gone")))
    assert [p.error.path for p in validate_tree(schema, old)] == [
        "/en:network/en:link[en:src='a'][en:dst='gone']/en:dst"
    ]
    new = as_data_tree(schema, net(node_xml("a") + node_xml("d") + LINK.format("a", "gone")))
    changes = diff(schema, old, new)
    assert [c.operation for c in changes] == ["create"]
    assert validate_changes(schema, new, changes) == []
    # a change that removes a target does look at every reference onto it
    fewer = as_data_tree(schema, net(LINK.format("a", "gone")))
    problems = validate_changes(schema, fewer, diff(schema, old, fewer))
    assert sorted(p.error.path for p in problems) == [
        "/en:network/en:link[en:src='a'][en:dst='gone']/en:dst",
        "/en:network/en:link[en:src='a'][en:dst='gone']/en:src",
    ]
    assert all(isinstance(p.element, etree._Element) for p in problems)
