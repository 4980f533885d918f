"""Wiring of the server's security policy: RFC 8341 access control on every door, the
audit log, session admission and timeouts, login back-off, session logging.

``install_security(options, core, modules)`` is called once by ``ProtocolServer``,
which keeps what it returns; the policies live in ``access`` (NACM), ``audit``,
``limits`` and ``auth``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qnms.netconf.protocol.access import AccessControl
from qnms.netconf.protocol.audit import AuditLog
from qnms.netconf.protocol.auth import Backoff
from qnms.netconf.protocol.limits import IdleWatch, SessionSlots
from qnms.netconf.protocol.monitoring import protocol_schema
from qnms.netconf.protocol.nacm import initial_config
from qnms.netconf.protocol.options import ServerOptions
from qnms.yang.schema_types import YangModule

if TYPE_CHECKING:
    from qnms.netconf.protocol.session import NetconfSession, ServerCore

log = logging.getLogger("qnms.netconf.protocol.server")


@dataclass(frozen=True)
class Security:
    """The policies a server keeps: NACM, the audit log, admission, back-off, timeouts."""

    access: AccessControl
    audit: AuditLog
    slots: SessionSlots
    backoff: Backoff
    idle: IdleWatch


def install_security(
    opts: ServerOptions, core: ServerCore, modules: Sequence[YangModule]
) -> Security:
    ds = core.datastores
    access = AccessControl(
        ds,
        [getattr(ds, "schema", None), protocol_schema()],
        {m.namespace: m.name for m in modules},
        recovery_user=opts.recovery_user,
        bootstrap=initial_config(opts.nacm_groups),
    )
    access.sessions = core.sessions
    core.access = access
    core.operations.guard = access.check_rpc
    core.state_providers.append(access)
    if hasattr(ds, "write_checks"):
        ds.write_checks.insert(0, access.check_write)

    def who(session_id: int) -> tuple[str, str]:
        session = core.sessions.get(session_id)
        if session is None:
            return ("(server)" if session_id == 0 else "(closed session)", "")
        return session.username, session.source_host

    audit = AuditLog(opts.state_dir if opts.audit else None, who)
    core.state_providers.append(audit)
    add_listener = getattr(ds, "add_listener", None)
    if callable(add_listener):
        add_listener(access.config_changed)
        add_listener(audit.record)
    core.session_closed.append(_log_session_end)
    return Security(
        access=access,
        audit=audit,
        slots=SessionSlots(opts.max_sessions, opts.max_sessions_per_user),
        backoff=Backoff(opts.auth_backoff, opts.auth_backoff_max),
        idle=IdleWatch(lambda: list(core.sessions.values()), opts.idle_timeout),
    )


def _log_session_end(session: NetconfSession) -> None:
    log.info("session %d: %s from %s ended", session.session_id, session.username,
             session.source_host)  # fmt: skip
