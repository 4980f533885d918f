"""The RFC 6241 base operations a server answers, by name (and RFC 6022 get-schema).

Kept apart from ``operations`` (the write side and the parameter helpers) and ``reads``
(get and get-config, which use those helpers), so that both are imported here and
neither imports the other's callers.
"""

from __future__ import annotations

from qnms.netconf.protocol.dispatch import OperationRegistry
from qnms.netconf.protocol.monitoring import NCM_NS
from qnms.netconf.protocol.operations import (
    op_close_session,
    op_commit,
    op_copy_config,
    op_delete_config,
    op_discard_changes,
    op_edit_config,
    op_get_schema,
    op_kill_session,
    op_lock,
    op_unlock,
    op_validate,
)
from qnms.netconf.protocol.reads import op_get, op_get_config
from qnms.netconf.protocol.session import NetconfSession
from qnms.yang.errors import NC_NS


def base_registry() -> OperationRegistry[NetconfSession]:
    reg = OperationRegistry[NetconfSession]()
    for name, handler in {
        "get": op_get,
        "get-config": op_get_config,
        "edit-config": op_edit_config,
        "copy-config": op_copy_config,
        "delete-config": op_delete_config,
        "lock": op_lock,
        "unlock": op_unlock,
        "commit": op_commit,
        "discard-changes": op_discard_changes,
        "validate": op_validate,
        "close-session": op_close_session,
        "kill-session": op_kill_session,
    }.items():
        reg.register(NC_NS, name, handler)
    reg.register(NCM_NS, "get-schema", op_get_schema)
    return reg
