"""Bulk edits: checked by pyang's type checks instead of a per-entry pyangbind decode,
with the binding objects rebuilt on demand afterwards."""

from __future__ import annotations

import pytest
from support.datastores import net, node_xml

from qnms.netconf.datastore import checking
from qnms.yang.errors import ErrorTag, RpcError

ENTRIES = 100


@pytest.fixture(autouse=True)
def small_bulk_threshold(monkeypatch):
    """100 entries of 3 nodes count as bulk; the real threshold only makes it slower."""
    monkeypatch.setattr(checking, "BULK_NODES", 60)


def bulk(bad: int | None = None) -> str:
    return "".join(node_xml(f"n{i}", 99 if i == bad else 1 + i % 64) for i in range(ENTRIES))


def test_bulk_edit_with_one_bad_value_is_rejected_and_changes_nothing(manager):
    with pytest.raises(RpcError) as err:
        manager.edit_config("running", net(bulk(bad=42)), session_id=1)
    assert err.value.tag == ErrorTag.INVALID_VALUE
    assert err.value.path.endswith("en:node[en:name='n42']/en:memory-count")
    assert len(manager.get_config("running")) == 0


@pytest.mark.slow
def test_binding_objects_are_rebuilt_after_a_bulk_edit(manager):
    manager.edit_config("running", net(node_xml("first")), session_id=1)
    assert list(manager.bindings()["example-net"].network.node.keys()) == ["first"]
    manager.edit_config("running", net(bulk()), session_id=1)
    nodes = manager.bindings()["example-net"].network.node
    assert len(nodes) == ENTRIES + 1
    assert nodes["n1"].memory_count == 2
