"""A datastore's ``<data>`` is serialised once per installed tree (issue 13).

An installed tree never changes, so every get-config of it all can share one text:
no copy and no serialisation per reply. What a user relies on: the text is the
datastore's content at the time of the request (a change shows at once, in running
and in a candidate that follows it), the same XML the tree gives, and a replaced tree
is not kept alive by an old text.
"""

from __future__ import annotations

from lxml import etree
from support.datastores import NS, edit, net, node_xml, rejected

from qnms.netconf.datastore import storage
from qnms.netconf.datastore.checking import Store
from qnms.netconf.datastore.manager import DatastoreManager


def names(text: bytes) -> list[str]:
    return etree.fromstring(text).xpath("//n:node/n:name/text()", namespaces={"n": NS})


def test_unchanged_running_shares_one_text_and_a_change_shows_at_once(
    manager: DatastoreManager,
) -> None:
    edit(manager, net(node_xml("a")))
    first = manager.serialized("running")
    assert manager.serialized("running") is first  # written once
    assert etree.tostring(etree.fromstring(first), method="c14n") == etree.tostring(
        manager.get_config("running"), method="c14n"
    )
    edit(manager, net(node_xml("b")))
    assert names(manager.serialized("running")) == ["a", "b"]
    assert names(manager.serialized("candidate")) == ["a", "b"]  # it follows running


def test_a_failed_edit_leaves_the_text_as_it_was(manager: DatastoreManager) -> None:
    edit(manager, net(node_xml("a")))
    before = manager.serialized("running")
    rejected(manager, net(node_xml("bad", memory=0)))  # out of range
    assert manager.serialized("running") is before


def test_a_new_tree_drops_the_old_text() -> None:
    old = etree.Element("data")
    store = Store(old)
    store.text = (old, b"<data/>")
    store.tree = etree.Element("data")
    assert store.text is None  # the old tree and its text were the store's last hold


def test_a_datastore_file_is_what_lxml_writes_with_its_declaration(
    manager: DatastoreManager,
) -> None:
    edit(manager, net(node_xml("é&amp;&lt;")))
    tree = manager.snapshot("running")
    expected = etree.tostring(tree, xml_declaration=True, encoding="utf-8")
    assert storage.serialise(tree, manager.text_of) == expected  # the journal's record
    assert manager.text_of(tree) is manager.serialized("running")  # one text for both
