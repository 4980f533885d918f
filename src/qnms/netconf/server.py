"""The NETCONF server every qnms element runs: the protocol core with RFC 8639
subscribed notifications and RFC 8641 YANG-Push plugged in.

``protocol.server.ProtocolServer`` speaks RFC 6241/6242 and knows nothing of
subscriptions; ``push`` serves them through the operations registry and the state
providers the core offers. This module is where the two meet, so that neither imports
the other: agents and the orchestrator build their servers here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from qnms.netconf.interfaces import Datastores, StateProvider
from qnms.netconf.protocol.options import ServerOptions
from qnms.netconf.protocol.server import ProtocolServer
from qnms.netconf.push.delivery import SubscriptionOptions
from qnms.netconf.push.errors import SN_NS, YP_NS
from qnms.netconf.push.subscriptions import SubscriptionManager
from qnms.netconf.push.yang_push import YangPush
from qnms.yang.schema_types import YangModule

__all__ = ["NetconfServer", "ServerOptions"]


class NetconfServer(ProtocolServer):
    """A NETCONF server with dynamic subscriptions and YANG-Push (RFC 8639/8641)."""

    def __init__(
        self,
        datastores: Datastores,
        state_providers: Sequence[StateProvider] = (),
        modules: Sequence[YangModule] | None = None,
        options: ServerOptions | None = None,
    ) -> None:
        super().__init__(datastores, state_providers, modules, options)
        o = self.options
        sub_options = SubscriptionOptions(
            queue_size=o.notification_queue_size,
            max_subscriptions=o.max_subscriptions,
            max_per_session=o.max_subscriptions_per_session,
            min_period_cs=o.min_period_cs,
            max_update_size=o.max_update_size,
            on_change_poll=o.on_change_poll,
            on_change_unsupported=tuple(o.on_change_unsupported),
        )
        self.yang_push = YangPush(self.core, sub_options)
        self.subscriptions = SubscriptionManager(self.core, sub_options, self.yang_push)
        for name, handler in {
            "establish-subscription": self.subscriptions.establish,
            "modify-subscription": self.subscriptions.modify,
            "delete-subscription": self.subscriptions.delete,
            "kill-subscription": self.subscriptions.kill,
        }.items():
            self.register_operation(SN_NS, name, handler)
        self.register_operation(YP_NS, "resync-subscription", self.subscriptions.resync)
        self.core.state_providers.append(self.subscriptions)
        self.core.session_closed.append(self.subscriptions.session_closed)
        self.hub.change_listeners.append(self.yang_push.config_changed)

    def state_changed(self) -> None:
        """The agent's live state changed: on-change subscriptions re-evaluate.

        Safe from any thread and cheap (calls are coalesced); see
        ``qnms.netconf.push.yang_push`` for the whole contract.
        """
        self.yang_push.state_changed()

    async def start(self) -> None:
        self.yang_push.bind_loop(asyncio.get_running_loop())
        await super().start()
