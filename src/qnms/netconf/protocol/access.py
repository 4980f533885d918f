"""NACM enforcement in the server (RFC 8341 sections 3.1.3, 3.4 and 3.5.1).

``AccessControl`` owns the current ``NacmConfig`` (from ``/nacm`` in running, or the
server's bootstrap tree when the datastore does not serve ietf-netconf-acm) and
applies it at every door: protocol operations are checked before dispatch
(``access-denied``, error-type protocol, counted in ``denied-operations``); writes to
any datastore are checked node by node on the difference they make (error-type
application, ``denied-data-writes``); reads (``<get>``, ``<get-config>``, YANG-Push
updates) are pruned silently; event notifications a receiver may not read are
dropped for that receiver (``denied-notifications``). The recovery user (section
3.1.3) bypasses all of it, as does the server itself (session id 0).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lxml import etree

from qnms.netconf.protocol.nacm import (
    NACM_NS,
    Access,
    NacmConfig,
    initial_config,
    parse_config,
    parse_path,
)
from qnms.yang.diff import diff
from qnms.yang.errors import NC_NS, ErrorTag, ErrorType, RpcError
from qnms.yang.schema import Schema, SchemaNode

if TYPE_CHECKING:
    from qnms.netconf.protocol.notifications import Event
    from qnms.netconf.protocol.session import NetconfSession
    from qnms.yang.changes import ConfigChange

log = logging.getLogger(__name__)
SN_NS = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
NOTIF_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"
NCN_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
# Operations the modules we ship tag nacm:default-deny-all (RFC 6241's ietf-netconf
# tags kill-session and delete-config; our copy predates that annotation).
DENY_ALL_RPCS = frozenset({(NC_NS, "kill-session"), (NC_NS, "delete-config"),
                           (SN_NS, "kill-subscription")})  # fmt: skip
ALWAYS_RPCS = frozenset({(NC_NS, "close-session")})  # RFC 8341 3.2.4
ALWAYS_NOTIFICATIONS = frozenset({(NOTIF_NS, "replayComplete"),
                                  (NOTIF_NS, "notificationComplete")})  # fmt: skip
_N = f"{{{NACM_NS}}}"


def _split(tag: object) -> tuple[str, str]:
    """``{ns}name`` -> (ns, name); only elements reach here (never comments)."""
    ns, _, name = str(tag)[1:].partition("}")
    return ns, name


class AccessControl:
    """The NACM decisions of one server, applied to sessions by their user name."""

    def __init__(
        self,
        datastores: Any,
        schemas: Iterable[Schema | None],
        module_names: dict[str, str],
        *,
        recovery_user: str | None = None,
        bootstrap: etree._Element | None = None,
    ) -> None:
        self.datastores = datastores
        self.schemas = [s for s in schemas if s is not None]
        self.module_names = dict(module_names)  # namespace -> module name
        self.prefixes = {name: ns for ns, name in self.module_names.items()}
        for schema in reversed(self.schemas):
            self.prefixes.update(schema.namespaces)  # YANG prefix -> namespace
        self.recovery_user = recovery_user or None
        self.bootstrap = bootstrap if bootstrap is not None else initial_config()
        self.denied_operations = 0
        self.denied_data_writes = 0
        self.denied_notifications = 0
        self.sessions: dict[int, NetconfSession] = {}
        ds_schema = getattr(datastores, "schema", None)
        self.in_datastore = ds_schema is not None and (NACM_NS, "nacm") in ds_schema.roots
        self.config = NacmConfig()
        self.reload()

    # -- configuration --------------------------------------------------------------

    def seed(self) -> None:
        """Put the bootstrap ``/nacm`` into running if running has none (first start)."""
        if not self.in_datastore:
            return
        running = self.datastores.get_config("running")
        if running.find(_N + "nacm") is None:
            config = etree.Element(f"{{{NC_NS}}}config")
            config.append(copy.deepcopy(self.bootstrap))
            self.datastores.edit_config("running", config, session_id=0)
            log.info("NACM: running had no /nacm; installed the bootstrap rules")
        self.reload()

    def reload(self) -> None:
        if self.in_datastore:
            tree = self.datastores.get_config("running")
        else:
            tree = etree.Element(f"{{{NC_NS}}}data")
            tree.append(copy.deepcopy(self.bootstrap))
        self.config = parse_config(tree, self.prefixes)

    def config_changed(self, changes: list[ConfigChange], _session_id: int) -> None:
        """Running changed: re-read ``/nacm`` if the change touched it."""
        if any(NACM_NS in c.nsmap.values() for c in changes):
            self.reload()

    # -- who ------------------------------------------------------------------------

    def user_of(self, session_id: int) -> str | None:
        """The user behind a session id; None for the server itself: id 0, or a session
        already gone (only server-side actions, such as a rollback, write for those)."""
        session = self.sessions.get(session_id)
        return session.username if session is not None else None

    def bypass(self, user: str | None) -> bool:
        return user is None or (self.recovery_user is not None and user == self.recovery_user)

    def module_of(self, ns: str, snode: SchemaNode | None = None) -> str:
        if snode is not None:
            return snode.module
        return self.module_names.get(ns, ns)

    # -- protocol operations (3.4.4) ------------------------------------------------

    def check_rpc(self, session: NetconfSession, op: etree._Element) -> None:
        ns, name = _split(op.tag)
        if (ns, name) in ALWAYS_RPCS or self.bypass(session.username):
            return
        deny_all = (ns, name) in DENY_ALL_RPCS
        for schema in self.schemas:
            node = schema.rpcs.get((ns, name))
            if node is not None and node.nacm == "default-deny-all":
                deny_all = True
        if self.config.decide_operation(session.username, self.module_of(ns), name, deny_all):
            return
        self.denied_operations += 1
        log.info("NACM: %s denied %s (session %d)", session.username, name, session.session_id)
        raise RpcError(ErrorTag.ACCESS_DENIED, f"access to operation {name!r} is denied",
                       type=ErrorType.PROTOCOL, info=[("bad-element", name)])  # fmt: skip

    # -- reads (3.4.5) --------------------------------------------------------------

    def prune(self, user: str | None, data: etree._Element) -> int:
        """Remove, in place, every node of ``data`` that ``user`` may not read.

        Without key predicates in the user's read rules a decision depends on the
        schema node alone: it is taken once per schema node, and subtrees where the
        schema allows nothing to be hidden are not walked at all.
        """
        cfg = self.config
        if self.bypass(user) or cfg.permits_everything(user or "", "read"):
            return 0
        assert user is not None
        memo: dict[int, tuple[bool, bool]] | None
        memo = None if cfg.has_predicates(user, "read") else {}
        return self._walk(user, cfg, data, None, [], memo)

    def hides_nothing(self, user: str | None) -> bool:
        """Whether ``prune`` would leave every tree of ``user`` as it is."""
        return self.bypass(user) or self.config.permits_everything(user or "", "read")

    def view(self, user: str | None, data: etree._Element) -> etree._Element:
        """``data`` as ``user`` may see it: the same tree if nothing is hidden, else a
        pruned copy (``data`` itself may be shared and is never changed)."""
        cfg = self.config
        if self.bypass(user) or cfg.permits_everything(user or "", "read"):
            return data
        out = copy.deepcopy(data)
        self.prune(user, out)
        return out

    def _walk(
        self,
        user: str,
        cfg: NacmConfig,
        el: etree._Element,
        parent: SchemaNode | None,
        chain: list[etree._Element],
        memo: dict[int, tuple[bool, bool]] | None,
    ) -> int:
        removed = 0
        for child in list(el):
            if not isinstance(child.tag, str):
                continue
            ns, name = _split(child.tag)
            snode = self._node(parent, (ns, name), not chain)
            if memo is not None and snode is not None:
                allowed, clear = self._schema_decision(user, cfg, snode, memo)
            else:
                ext = snode.nacm if snode is not None else None
                chain.append(child)
                allowed = cfg.decide_data(user, "read", self.module_of(ns, snode), chain, ext)
                chain.pop()
                clear = False
            if not allowed:
                el.remove(child)
                removed += 1
            elif not clear:
                chain.append(child)
                removed += self._walk(user, cfg, child, snode, chain, memo)
                chain.pop()
        return removed

    def _schema_decision(
        self, user: str, cfg: NacmConfig, snode: SchemaNode, memo: dict[int, tuple[bool, bool]]
    ) -> tuple[bool, bool]:
        """(may read ``snode``, nothing below it can be hidden) for instance-free rules."""
        hit = memo.get(id(snode))
        if hit is None:
            keys: list[tuple[str, str]] = []
            node: SchemaNode | None = snode
            while node is not None:
                keys.append(node.key)
                node = node.parent
            allowed = cfg.decide_data(user, "read", snode.module, keys[::-1], snode.nacm)
            memo[id(snode)] = (allowed, False)  # (schema recursion never loops back)
            clear = allowed and all(
                self._schema_decision(user, cfg, c, memo)[1] for c in snode.children.values()
            )
            hit = memo[id(snode)] = (allowed, clear)
        return hit

    def _node(
        self, parent: SchemaNode | None, key: tuple[str, str], top: bool
    ) -> SchemaNode | None:
        if not top:
            return parent.children.get(key) if parent is not None else None
        for schema in self.schemas:
            node = schema.roots.get(key)
            if node is not None:
                return node
        return None

    # -- writes (3.4.5) -------------------------------------------------------------

    def check_write(self, target: str, old: etree._Element, new: etree._Element, sid: int) -> None:
        """Called by the datastore before ``new`` replaces ``old`` in ``target``; the
        server's own writes (session 0) are not subject to NACM (RFC 8341 3.1.3)."""
        if not sid:
            return
        user = self.user_of(sid)
        if self.bypass(user):
            return
        assert user is not None
        schema = self.datastores.schema
        cfg = self.config
        if all(cfg.permits_everything(user, a) for a in ("create", "update", "delete")):
            return  # an administrator: no need to look at the difference
        checks: list[tuple[Access, Any]] = []
        for change in diff(schema, old, new):
            if change.operation == "create" and change.element is not None:
                new_nodes = change.element.iter()
                checks += [("create", el) for el in new_nodes if isinstance(el.tag, str)]
            elif change.element is not None:
                checks.append(("update", change.element))
        for change in diff(schema, new, old):  # what ``new`` lacks: deletions
            if change.operation == "create":
                checks.append(("delete", change.element))
        for access, el in checks:
            chain = [*[a for a in el.iterancestors() if a.getparent() is not None][::-1], el]
            snode = self._chain_node(chain)
            ext = snode.nacm if snode is not None else None
            ns = _split(el.tag)[0]
            if not cfg.decide_data(user, access, self.module_of(ns, snode), chain, ext):
                self.denied_data_writes += 1
                path = "/" + "/".join(etree.QName(a).localname for a in chain)
                log.info("NACM: %s denied %s of %s in %s", user, access, path, target)
                raise RpcError(ErrorTag.ACCESS_DENIED, f"{access} of {path} is denied",
                               info=[("bad-element", etree.QName(el).localname)])  # fmt: skip

    def _chain_node(self, chain: list[etree._Element]) -> SchemaNode | None:
        node: SchemaNode | None = None
        for i, el in enumerate(chain):
            node = self._node(node, _split(el.tag), i == 0)
            if node is None:
                return None
        return node

    # -- notifications (3.4.6) ------------------------------------------------------

    def notification_view(self, session: NetconfSession, event: Event) -> Event | None:
        """The event as the session's user may receive it (None: not at all, counted in
        denied-notifications): the notification itself must be readable (3.4.6), and
        its data nodes, and the edits a config-change names, are pruned like reads."""
        user, content = session.username, event.content
        ns, name = _split(content.tag)
        if (ns, name) in ALWAYS_NOTIFICATIONS or self.bypass(user):
            return event
        cfg = self.config
        node = next((n for s in self.schemas if (n := s.notifications.get((ns, name)))), None)
        deny_all = node is not None and node.nacm == "default-deny-all"
        if not cfg.decide_notification(user, self.module_of(ns), name, deny_all):
            self.denied_notifications += 1
            return None
        if cfg.permits_everything(user, "read"):
            return event
        out = copy.deepcopy(content)
        memo: dict[int, tuple[bool, bool]] = {}
        removed = self._walk(user, cfg, out, node, [out], memo) if node is not None else 0
        if (ns, name) == (NCN_NS, "netconf-config-change"):
            edits = out.findall(f"{{{NCN_NS}}}edit")
            hidden = [e for e in edits if not self._target_readable(user, cfg, e, memo)]
            for edit in hidden:
                out.remove(edit)
            if hidden and len(hidden) == len(edits):
                self.denied_notifications += 1
                return None
            removed += len(hidden)
        return replace(event, content=out) if removed else event

    def _target_readable(self, user: str, cfg: NacmConfig, edit: etree._Element,
                         memo: dict[int, tuple[bool, bool]]) -> bool:  # fmt: skip
        """May ``user`` read the node an RFC 6470 edit names (schema-level decision)?"""
        target = edit.find(f"{{{NCN_NS}}}target")
        if target is None or not target.text:
            return True
        try:
            steps = parse_path(target.text, {**self.prefixes, **_prefixed(target.nsmap)})
        except ValueError:
            return True
        node: SchemaNode | None = None
        for i, (ns, name, _keys) in enumerate(steps):
            node = self._node(node, (ns or "", name), i == 0)
            if node is None:
                return True  # not a data node we know: nothing to hide
            if not self._schema_decision(user, cfg, node, memo)[0]:
                return False
        return True

    # -- state (ietf-netconf-acm config false counters) -----------------------------

    def state(self) -> list[etree._Element]:
        nacm = etree.Element(_N + "nacm", nsmap={None: NACM_NS})
        for name, value in (
            ("denied-operations", self.denied_operations),
            ("denied-data-writes", self.denied_data_writes),
            ("denied-notifications", self.denied_notifications),
        ):
            etree.SubElement(nacm, _N + name).text = str(value)
        return [nacm]


def _prefixed(nsmap: dict[str | None, str]) -> dict[str, str]:
    """The prefixed declarations of an element (a default namespace has no prefix)."""
    return {p: ns for p, ns in nsmap.items() if p is not None}
