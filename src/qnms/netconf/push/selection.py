"""Datastore selections for YANG-Push: filtering, schema knowledge, on-change exclusions.

A subscription's filter is applied with the same engine as ``<get>`` filters, so a
push-update holds exactly what a ``<get>`` with that filter would return. Reading the
filter itself (which schema nodes it names) lets the server refuse a selection that
can never select anything (``unchanging-selection``) or nothing but nodes that do not
support on-change, and skip building the server's own state trees when a selection
only names agent modules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from lxml import etree

from qnms.netconf.protocol.monitoring import protocol_schema
from qnms.netconf.push.evaluation import FastFilter
from qnms.yang import filters
from qnms.yang.schema import SchemaNode
from qnms.yang.tree import split_tag

if TYPE_CHECKING:
    from qnms.netconf.protocol.session import ServerCore
    from qnms.netconf.push.rpcs import FilterSpec

Chain = tuple[tuple[str, str], ...]
Trie = dict[str, "Trie | None"]  # None: the node and its subtree are excluded
_LEAFY = ("leaf", "leaf-list", "anydata", "anyxml")
_SN = "ietf-subscribed-notifications:"
_RECEIVER = f"/{_SN}subscriptions/subscription/receivers/receiver/"
_SESSION = "/ietf-netconf-monitoring:netconf-state/sessions/session/"
# Server state that moves as a side effect of pushing: on-change on it would feed
# itself. (Not on-change capable; visible to periodic subscriptions and <get>.)
DEFAULT_UNSUPPORTED = (
    _RECEIVER + "sent-event-records",
    _RECEIVER + "excluded-event-records",
    _RECEIVER + "qnms-subscription-stats:dropped-event-records",
    _RECEIVER + "qnms-subscription-stats:queued-event-records",
    "/ietf-netconf-monitoring:netconf-state/statistics",
    _SESSION + "in-rpcs",
    _SESSION + "in-bad-rpcs",
    _SESSION + "out-rpc-errors",
    _SESSION + "out-notifications",
)
_PRED = re.compile(r"\[[^\[\]]*\]")
_STEP = re.compile(r"^([\w.-]+):([\w.-]+)$")


def parse_path(path: str, prefixes: dict[str, str]) -> Chain:
    """``/p:a/b/m:c`` -> ((ns, 'a'), (ns, 'b'), (ns2, 'c')); prefixes or module names;
    an unqualified step inherits its parent's namespace, predicates are ignored."""
    out: list[tuple[str, str]] = []
    ns = ""
    for step in _PRED.sub("", path).strip().strip("/").split("/"):
        prefix, _, name = step.rpartition(":")
        if prefix:
            if prefix not in prefixes:
                raise ValueError(f"unknown prefix or module {prefix!r} in {path!r}")
            ns = prefixes[prefix]
        if not name or not ns:
            raise ValueError(f"bad schema path {path!r}")
        out.append((ns, name))
    return tuple(out)


def excluded_trie(chains: Iterable[Chain]) -> Trie:
    trie: Trie = {}
    for chain in chains:
        node = trie
        for i, (ns, name) in enumerate(chain):
            tag = f"{{{ns}}}{name}"
            if i == len(chain) - 1:
                node[tag] = None
                break
            nxt = node.setdefault(tag, {})
            if nxt is None:
                break  # an ancestor is excluded already
            node = nxt
    return trie


def prune(el: etree._Element, trie: Trie) -> None:
    """Remove the excluded nodes from ``el`` (a tree the caller owns)."""
    for child in list(el):
        if not isinstance(child.tag, str) or child.tag not in trie:
            continue
        sub = trie[child.tag]
        if sub is None:
            el.remove(child)
        else:
            prune(child, sub)


class Selection:
    """Schema-aware filter evaluation shared by all datastore subscriptions."""

    def __init__(self, core: ServerCore, unsupported: Sequence[str]) -> None:
        self.core = core
        self.roots: dict[tuple[str, str], SchemaNode] = {}
        prefixes: dict[str, str] = {}
        proto = protocol_schema()
        agent = getattr(core.datastores, "schema", None)
        for schema in (proto, agent):
            if schema is None:
                continue
            own = {m.namespace for m in schema.modules if m.conformance == "implement"}
            self.roots.update({k: v for k, v in schema.roots.items() if k[0] in own})
            prefixes.update(schema.namespaces)
            prefixes.update({m.name: m.namespace for m in schema.modules})
        for mod in core.monitoring.modules:
            prefixes.setdefault(mod.name, mod.namespace)
            prefixes.setdefault(mod.prefix, mod.namespace)
        self.prefixes = prefixes
        self.agent_ns = {ns for ns, _ in agent.roots} if agent is not None else set()
        self.known_ns = {ns for ns, _ in self.roots}
        chains = []
        for path in DEFAULT_UNSUPPORTED:
            try:
                chains.append(parse_path(path, prefixes))
            except ValueError:  # the protocol schema did not load: nothing to exclude
                continue
        chains += [parse_path(path, prefixes) for path in unsupported]  # typos raise
        self.trie = excluded_trie(chains)
        self.fast = FastFilter(self.child)

    def child(self, parent: SchemaNode | None, key: tuple[str, str]) -> SchemaNode | None:
        return self.roots.get(key) if parent is None else parent.children.get(key)

    def apply(
        self, data: etree._Element, flt: FilterSpec | None, cache: dict | None = None
    ) -> etree._Element:
        """The selection from ``data``: a new tree, or ``data`` itself without a filter.

        ``cache`` (one per snapshot) keeps list indexes between evaluations.
        """
        if flt is None:
            return data
        if flt.kind == "subtree":
            out = self.fast.evaluate([(data, (id(data),))], flt.element, flt.key, None, cache)
            if out is not None:
                return out
            return filters.subtree_filter(data, flt.element, self.core.schema)
        return filters.xpath_filter(data, flt.select, flt.nsmap, self.core.schema)

    # -- reading filters --------------------------------------------------------------

    def chains(self, flt: FilterSpec | None) -> list[Chain] | None:
        """The schema paths a filter selects, or None when that cannot be read off it."""
        if flt is None:
            return None
        if flt.kind == "subtree":
            out: list[Chain] = []
            _subtree_chains(flt.element, (), out)
            return out
        nsmap = flt.nsmap
        paths = []
        for part in flt.select.split("|"):
            steps = _PRED.sub("", part).strip()
            if not steps.startswith("/") or "//" in steps:
                return None
            chain = []
            for step in steps.strip("/").split("/"):
                m = _STEP.match(step.strip())
                if m is None or m.group(1) not in nsmap:
                    return None
                chain.append((nsmap[m.group(1)], m.group(2)))
            paths.append(tuple(chain))
        return paths

    def needs_protocol_state(self, flt: FilterSpec | None) -> bool:
        """False when the filter names agent modules only (skip server state trees)."""
        chains = self.chains(flt)
        if not chains:
            return True
        return not all(chain[0][0] in self.agent_ns for chain in chains)

    def may_select(self, flt: FilterSpec) -> bool:
        chains = self.chains(flt)
        return chains is None or any(self._resolvable(c) for c in chains)

    def _resolvable(self, chain: Chain) -> bool:
        node: SchemaNode | None = None
        for i, key in enumerate(chain):
            if not key[0] or key[0] not in self.known_ns:
                return True  # unqualified, or a namespace we have no schema for
            node = self.child(node, key)
            if node is None or (node.keyword in _LEAFY and i < len(chain) - 1):
                return False
        return True

    def all_excluded(self, flt: FilterSpec | None) -> bool:
        """Every node the filter names lies in an on-change-unsupported subtree."""
        chains = self.chains(flt)
        if not chains:
            return False
        return all(self._excluded(c) for c in chains)

    def _excluded(self, chain: Chain) -> bool:
        node: Trie | None = self.trie
        for ns, name in chain:
            if node is None:
                return True
            tag = f"{{{ns}}}{name}"
            if tag not in node:
                return False
            node = node[tag]
        return node is None


def _subtree_chains(el: etree._Element, prefix: Chain, out: list[Chain]) -> None:
    """Selection and containment nodes of a subtree filter as schema paths."""
    kids = [c for c in el if isinstance(c.tag, str)]
    inner = [c for c in kids if any(isinstance(g.tag, str) for g in c)]
    select = [c for c in kids if c not in inner and not (c.text or "").strip()]
    if prefix and not inner and not select:
        out.append(prefix)  # only content match nodes: the whole node is selected
        return
    for c in select:
        out.append((*prefix, split_tag(c.tag)))
    for c in inner:
        _subtree_chains(c, (*prefix, split_tag(c.tag)), out)
