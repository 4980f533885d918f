"""What a NETCONF server is configured with: address, credentials, limits, budgets.

Apart from ``server`` so that the parts the server wires in (security, fairness) can
read their settings without importing the server itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qnms.netconf.protocol.framing import DEFAULT_MAX_MESSAGE_SIZE


@dataclass
class ServerOptions:
    """Where to listen, who may log in, and the per-session limits."""

    host: str = "127.0.0.1"
    port: int = 830  # 0 picks a free port; read the server.port after start()
    state_dir: Path = Path("state")
    users: dict[str, str] = field(default_factory=dict)  # username -> password
    authorized_keys: Path | None = None  # keys per user: see qnms.netconf.protocol.auth
    recovery_user: str | None = None  # bypasses NACM (RFC 8341 3.1.3)
    nacm_groups: dict[str, list[str]] | None = None  # first /nacm; None: admin in admin
    audit: bool = True  # append-only audit.log under state_dir, /qnms-audit:audit
    auth_backoff: float = 0.5  # seconds after the first failure from an address, doubling
    auth_backoff_max: float = 30.0
    max_sessions: int = 64  # reserved at SSH accept
    max_sessions_per_user: int | None = None
    login_timeout: float = 30.0
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_depth: int = 256
    hello_timeout: float = 60.0
    idle_timeout: float = 3600.0  # no complete rpc for this long closes (0: never)
    notification_queue_size: int = 1024  # per RFC 5277 session / RFC 8639 subscription
    # RFC 8639 / RFC 8641 (see qnms.netconf.push.yang_push for what an agent must call)
    max_subscriptions: int = 1024
    max_subscriptions_per_session: int = 256
    min_period_cs: int = 1  # shortest YANG-Push period, centiseconds
    max_update_size: int = 8 * 1024 * 1024  # bytes of one push-update / patch
    on_change_poll: float | None = 1.0  # seconds; None: rely on state_changed()
    on_change_unsupported: tuple[str, ...] = ()  # schema paths of continuously moving state
    # Fair service (issue 9, qnms.netconf.protocol.fairness): budgets of XPath filters
    xpath_time_budget: float | None = 2.0  # seconds; over it: operation-failed
    xpath_max_cost: float | None = 1e8  # estimated node visits refused unevaluated
    # Reads and edits in worker threads (qnms.netconf.protocol.fairness). Off by default:
    # with many servers in one process (qnms agents, the demo) concurrent workers of
    # different servers crashed the interpreter inside lxml once in the suite; until
    # that is understood, one server per process may turn it on.
    offload: bool = False
