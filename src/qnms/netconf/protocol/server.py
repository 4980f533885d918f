"""The NETCONF-over-SSH server (RFC 6242) on asyncssh.

It builds what every session shares (``ServerCore``: datastores, operations, the
notification hub, monitoring), listens, and closes everything on stop. The SSH side
(host key, authentication, the ``netconf`` subsystem channels) is ``ssh``. The server
will not listen beyond loopback without credentials, nor start with an empty password.
Each SSH channel gets its own ``NetconfSession``; a session that breaks the protocol
is closed alone. NACM (RFC 8341), the audit log, admission and timeouts are wired in
by ``security.install_security``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
from collections.abc import Sequence
from typing import Self

import asyncssh

from qnms.netconf.interfaces import Datastores, StateProvider
from qnms.netconf.protocol import confirmed_commit, with_defaults
from qnms.netconf.protocol.access import AccessControl
from qnms.netconf.protocol.audit import AuditLog
from qnms.netconf.protocol.auth import Backoff, check_passwords, load_user_keys
from qnms.netconf.protocol.create_subscription import op_create_subscription
from qnms.netconf.protocol.dispatch import Handler, OperationRegistry
from qnms.netconf.protocol.fairness import Fairness, FairnessOptions
from qnms.netconf.protocol.hello import BASE_10, BASE_11
from qnms.netconf.protocol.limits import IdleWatch, SessionSlots
from qnms.netconf.protocol.monitoring import (
    YANGLIB_REVISION,
    Monitoring,
    ietf_modules,
    merge_modules,
    served_schema,
)
from qnms.netconf.protocol.notifications import NOTIF_NS, NotificationHub
from qnms.netconf.protocol.options import ServerOptions
from qnms.netconf.protocol.registry import base_registry
from qnms.netconf.protocol.security import install_security
from qnms.netconf.protocol.session import NetconfSession, ServerCore, SessionOptions, Transport
from qnms.netconf.protocol.ssh import ENCRYPTION_ALGS, SSHConnection, load_host_key
from qnms.yang.schema_types import YangModule

log = logging.getLogger(__name__)

CAP = "urn:ietf:params:netconf:capability:"
BASE_CAPABILITIES = (
    BASE_10,
    BASE_11,
    CAP + "writable-running:1.0",
    CAP + "candidate:1.0",
    CAP + "validate:1.0",
    CAP + "validate:1.1",
    CAP + "rollback-on-error:1.0",
    CAP + "startup:1.0",
    CAP + "xpath:1.0",
    CAP + "notification:1.0",
    CAP + "interleave:1.0",
    confirmed_commit.CAPABILITY,
    with_defaults.CAPABILITY,
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ProtocolServer:
    """A NETCONF server over one ``Datastores`` implementation.

    ``modules`` defaults to ``datastores.modules``; the IETF modules this layer
    implements (ietf-netconf, -monitoring, -notifications, yang-library, ...) are added.
    ``state_providers`` contribute protocol-level state to ``<get>``; agent state with
    keyed lists belongs in the datastore, which merges it with the schema in hand.
    """

    def __init__(
        self,
        datastores: Datastores,
        state_providers: Sequence[StateProvider] = (),
        modules: Sequence[YangModule] | None = None,
        options: ServerOptions | None = None,
    ) -> None:
        self.options = options or ServerOptions()
        self.datastores = datastores
        mods = list(modules if modules is not None else getattr(datastores, "modules", []))
        self.modules = merge_modules(mods, ietf_modules())
        self.monitoring = Monitoring(self.modules)
        lock_source = getattr(datastores, "locks", None)
        if callable(lock_source):
            self.monitoring.lock_source = lock_source
        self.hub = NotificationHub(
            session_lookup=self.monitoring.sessions.get,
            queue_size=self.options.notification_queue_size,
        )
        self.operations: OperationRegistry[NetconfSession] = base_registry()
        self.operations.register(NOTIF_NS, "create-subscription", op_create_subscription)
        self.capabilities = self._capabilities()
        self.monitoring.capabilities = self.capabilities
        self.core = ServerCore(
            datastores=datastores,
            monitoring=self.monitoring,
            hub=self.hub,
            operations=self.operations,
            capabilities=self.capabilities,
            state_providers=list(state_providers),
            schema=served_schema(getattr(datastores, "schema", None)),
            fairness=Fairness(
                FairnessOptions(
                    xpath_time_budget=self.options.xpath_time_budget,
                    xpath_max_cost=self.options.xpath_max_cost,
                    offload=self.options.offload,
                )
            ),
            options=SessionOptions(
                max_message_size=self.options.max_message_size,
                max_depth=self.options.max_depth,
                hello_timeout=self.options.hello_timeout,
                notification_queue_size=self.options.notification_queue_size,
            ),
        )
        self.core.emit_config_changes = not self._hook_change_listener()
        self.confirmed_commits = confirmed_commit.install(self.core, datastores)
        with_defaults.install(self.core)
        self._ids = itertools.count(1)
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.user_keys: dict[str, asyncssh.SSHAuthorizedKeys] = {}
        security = install_security(self.options, self.core, self.modules)
        self.access: AccessControl = security.access  # RFC 8341 enforcement
        self.audit: AuditLog = security.audit
        self.slots: SessionSlots = security.slots  # admission, reserved at SSH accept
        self.backoff: Backoff = security.backoff  # per-source login back-off
        self.idle: IdleWatch = security.idle  # hello and idle timeouts

    def state_changed(self) -> None:
        """The live state behind ``<get>`` changed. The protocol core itself keeps
        nothing derived from it; a server with subscriptions re-evaluates them
        (``qnms.netconf.server.NetconfServer``)."""

    def _hook_change_listener(self) -> bool:
        """Let the datastore report every change to running (RFC 6470), if it can;
        otherwise the session emits config-change events itself after each edit."""
        add_listener = getattr(self.datastores, "add_listener", None)
        if not callable(add_listener):
            return False
        add_listener(self.hub.config_changed)
        return True

    def _capabilities(self) -> list[str]:
        caps = list(BASE_CAPABILITIES)
        # Import-only modules are listed too (as netconfd does): clients that predate
        # yang-library 1.1, such as yangcli, resolve imports from the hello alone.
        for mod in self.modules:
            cap = f"{mod.namespace}?module={mod.name}"
            if mod.revision:
                cap += f"&revision={mod.revision}"
            if mod.features:
                cap += f"&features={','.join(mod.features)}"
            caps.append(cap)
        caps.append(
            f"{CAP}yang-library:1.1?revision={YANGLIB_REVISION}"
            f"&content-id={self.monitoring.content_id}"
        )
        return caps

    def register_operation(
        self, namespace: str, name: str, handler: Handler[NetconfSession]
    ) -> None:
        """Serve an additional RPC (an agent's YANG rpc, or a protocol extension)."""
        self.operations.register(namespace, name, handler)

    @property
    def port(self) -> int:
        if self._acceptor is None:
            raise RuntimeError("server not started")
        return self._acceptor.get_port()

    @property
    def sessions(self) -> dict[int, NetconfSession]:
        return self.core.sessions

    async def start(self) -> None:
        opts = self.options
        check_passwords(opts.users)
        has_keys = False
        if opts.authorized_keys is not None:
            self.user_keys = load_user_keys(opts.authorized_keys)
            has_keys = bool(self.user_keys)
        if not is_loopback(opts.host) and not (opts.users or has_keys):
            raise ValueError(
                f"refusing to listen on non-loopback address {opts.host!r} without "
                "credentials: configure users (passwords) or an authorized_keys file"
            )
        if not (opts.users or has_keys):
            log.warning("NETCONF server has no credentials configured: nobody can log in")
        host_key = load_host_key(opts.state_dir)
        self.access.seed()
        self.idle.start()
        self.hub.bind_loop(asyncio.get_running_loop())
        bind = getattr(self.datastores, "bind_loop", None)
        if callable(bind):  # edits run in a worker; their callbacks on this loop
            bind(asyncio.get_running_loop())
        self._acceptor = await asyncssh.create_server(
            lambda: SSHConnection(self),
            opts.host,
            opts.port,
            server_host_keys=[host_key],
            encoding=None,
            allow_pty=False,
            x11_forwarding=False,
            agent_forwarding=False,
            allow_scp=False,
            line_editor=False,
            login_timeout=opts.login_timeout,
            encryption_algs=ENCRYPTION_ALGS,
        )
        log.info("NETCONF server listening on %s:%d", opts.host, self.port)

    async def stop(self) -> None:
        """Close every session (releasing locks), then the connections and the listener.

        Connections go first: since Python 3.12 a listener's ``wait_closed`` also waits
        for its open connections, and a silent client must not stall the shutdown.
        """
        await self.idle.stop()
        for session in list(self.core.sessions.values()):
            session.close("other")
        if self.confirmed_commits is not None:
            self.confirmed_commits.stop()
        if self._acceptor is not None:
            self._acceptor.close()
        conns = list(self.connections)
        for conn in conns:
            conn.close()
        if conns:
            _, pending = await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in conns],
                                            timeout=2.0)  # fmt: skip
            for fut in pending:
                fut.cancel()
            for conn in conns:
                conn.abort()
        self.connections.clear()
        if self._acceptor is not None:
            try:
                await asyncio.wait_for(self._acceptor.wait_closed(), 2.0)
            except TimeoutError:
                log.warning("NETCONF listener did not close in time")
            self._acceptor = None
        self.core.fairness.shutdown()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def new_session(self, username: str, source_host: str, transport: Transport) -> NetconfSession:
        """A session for a channel that asked for the netconf subsystem (``ssh``)."""
        return NetconfSession(self.core, next(self._ids), username, source_host, transport)
