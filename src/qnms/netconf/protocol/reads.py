"""RFC 6241 ``<get>`` (7.7) and ``<get-config>`` (7.1), served off the event loop.

Reading and filtering a large datastore is the work that, done on the loop, froze every
other session (issue 9). Both operations run in a reader thread of
``qnms.netconf.protocol.fairness`` on a snapshot (``DatastoreManager`` readers take no
lock) with the XPath budget applied; only the server's own state, which belongs to the
loop, is read before leaving it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from qnms.netconf.protocol.dispatch import Reply
from qnms.netconf.protocol.operations import (
    READ_DATASTORES,
    apply_filter,
    datastore,
    merge_state,
    params,
    required,
)
from qnms.yang.errors import NC_NS

if TYPE_CHECKING:
    from qnms.netconf.protocol.session import NetconfSession, ServerCore

_Q = f"{{{NC_NS}}}"


def _xpath_of(flt: etree._Element | None) -> str | None:
    """The select expression of an XPath filter (what the time budget applies to)."""
    if flt is None or flt.get("type", flt.get(_Q + "type", "subtree")) != "xpath":
        return None
    return flt.get("select", flt.get(_Q + "select")) or ""


async def op_get(s: NetconfSession, op: etree._Element) -> Reply:
    """RFC 6241 7.7. The server's own state is read on the loop (it belongs to it); the
    agent's datastore copy, NACM pruning and filtering run in a reader (issue 9)."""
    p = params(op, {"filter"})
    flt, core = p.get("filter"), s.core
    extra = core.monitoring.state() + [el for sp in core.state_providers for el in sp.state()]
    # The agent's live state belongs to the loop too (its feed and clocks change it
    # there): read it here, merge it in the reader.
    live = core.datastores.live_state()

    def work() -> Reply:
        data = core.datastores.get(live)
        merge_state(data, extra)
        if core.access is not None:  # RFC 8341: pruned before filtering, silently
            core.access.prune(s.username, data)
        return [apply_filter(data, flt, core.schema, max_cost=_max_cost(core))]

    return await core.fairness.read(s, work, select=_xpath_of(flt))


async def op_get_config(s: NetconfSession, op: etree._Element) -> Reply:
    """RFC 6241 7.1, in a reader thread on a private copy of the snapshot (issue 9)."""
    p = params(op, {"source", "filter"})
    source = datastore(required(p, "source"), READ_DATASTORES)
    flt, core = p.get("filter"), s.core

    def work() -> Reply:
        ds, access = core.datastores, core.access
        shared = getattr(ds, "snapshot", None)
        hides = access is not None and not access.hides_nothing(s.username)
        serialized = getattr(ds, "serialized", None)
        if flt is None and serialized is not None and not hides:
            return [serialized(source)]  # all of it, as written once for every reader
        if flt is not None and shared is not None and not hides:
            data = shared(source)  # filters copy what they select: no copy of it all
        else:
            data = ds.get_config(source)
            if access is not None:
                access.prune(s.username, data)
        return [apply_filter(data, flt, core.schema, max_cost=_max_cost(core))]

    return await core.fairness.read(s, work, select=_xpath_of(flt))


def _max_cost(core: ServerCore) -> float | None:
    return core.fairness.options.xpath_max_cost
