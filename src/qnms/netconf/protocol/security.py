"""Wiring of the server's security policy: RFC 8341 access control on every door, the
audit log, session admission and timeouts, login back-off, session logging.

``install_security(server)`` is called once by ``ProtocolServer``; the policies live
in ``access`` (NACM), ``audit``, ``limits`` and ``auth``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from qnms.netconf.protocol.access import AccessControl
from qnms.netconf.protocol.audit import AuditLog
from qnms.netconf.protocol.auth import Backoff
from qnms.netconf.protocol.limits import IdleWatch, SessionSlots
from qnms.netconf.protocol.monitoring import protocol_schema
from qnms.netconf.protocol.nacm import initial_config

if TYPE_CHECKING:
    from qnms.netconf.protocol.server import ProtocolServer
    from qnms.netconf.protocol.session import NetconfSession

log = logging.getLogger("qnms.netconf.protocol.server")


def install_security(server: ProtocolServer) -> None:
    opts, ds, core = server.options, server.datastores, server.core
    access = AccessControl(
        ds,
        [getattr(ds, "schema", None), protocol_schema()],
        {m.namespace: m.name for m in server.modules},
        recovery_user=opts.recovery_user,
        bootstrap=initial_config(opts.nacm_groups),
    )
    access.sessions = core.sessions
    core.access = access
    server.operations.guard = access.check_rpc
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
    server.access = access
    server.audit = audit
    server.slots = SessionSlots(opts.max_sessions, opts.max_sessions_per_user)
    server.backoff = Backoff(opts.auth_backoff, opts.auth_backoff_max)
    server.idle = IdleWatch(lambda: list(core.sessions.values()), opts.idle_timeout)


def _log_session_end(session: NetconfSession) -> None:
    log.info("session %d: %s from %s ended", session.session_id, session.username,
             session.source_host)  # fmt: skip
