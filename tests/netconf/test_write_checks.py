"""Write checks: NACM's and an application's veto on a write, before anything changes."""

from __future__ import annotations

import pytest
from support.datastores import names, net, node_xml

from qnms.yang.errors import ErrorTag, RpcError


def no_node_named_bad(datastore: str, old, new, session_id: int) -> None:
    if datastore == "running" and "bad" in names(new):
        raise RpcError(ErrorTag.OPERATION_FAILED, "no bad nodes", app_tag="bad-node")


@pytest.mark.parametrize("path", ["edit-running", "commit", "copy-config"])
def test_a_refusing_check_leaves_running_and_listeners_untouched(manager, path) -> None:
    seen: list[object] = []
    calls: list[tuple[list[str], list[str], int]] = []
    manager.add_listener(lambda changes, sid: seen.append(changes))
    manager.write_checks.append(lambda d, o, n, s: calls.append((d, names(o), names(n), s)))
    manager.write_checks.append(no_node_named_bad)
    manager.edit_config("running", net(node_xml("good")), session_id=4)
    assert calls == [("running", [], ["good"], 4)]
    with pytest.raises(RpcError) as info:
        if path == "edit-running":
            manager.edit_config("running", net(node_xml("bad")), session_id=4)
        elif path == "commit":
            manager.edit_config("candidate", net(node_xml("bad")), session_id=4)
            manager.commit(session_id=4)
        else:
            manager.edit_config("candidate", net(node_xml("bad")), session_id=4)
            manager.copy_config("running", "candidate", session_id=4)
    assert info.value.app_tag == "bad-node"
    assert names(manager.get_config("running")) == ["good"]
    assert len(seen) == 1


def test_a_check_that_only_guards_running_lets_candidate_edits_through(manager) -> None:
    manager.write_checks.append(no_node_named_bad)
    manager.edit_config("candidate", net(node_xml("bad")), session_id=1)
    assert names(manager.get_config("candidate")) == ["bad"]
