"""NETCONF access control (RFC 8341): the configuration and the rule engine.

The ``/nacm`` tree of running (RFC 8341 section 3.5) is parsed once per change into a
``NacmConfig``; ``NacmConfig.decide`` is the access decision of sections 3.4.4
(protocol operations), 3.4.5 (data nodes) and 3.4.6 (notifications): rule-lists in
order, for the groups of the user, the first matching rule wins; otherwise the
``default-deny-all`` / ``default-deny-write`` extension of the schema node, otherwise
``read-default`` / ``write-default`` / ``exec-default``. How the server applies those
decisions (pruning, denial, counters, the recovery session) lives in
``qnms.netconf.protocol.access``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lxml import etree

NACM_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
_N = f"{{{NACM_NS}}}"
ALL_OPS = frozenset({"create", "read", "update", "delete", "exec"})
Access = Literal["create", "read", "update", "delete", "exec"]
RuleKind = Literal["rpc", "notification", "path", "any"]
Step = tuple[str | None, str, tuple[tuple[str, str], ...]]  # (ns, name, key predicates)
Chain = Sequence[etree._Element | tuple[str, str]]  # a node and its ancestors

_STEP = re.compile(r"(?:([\w.-]+):)?([\w.-]+|\*)((?:\[[^\]]*\])*)")
_PRED = re.compile(r"\[\s*(?:[\w.-]+:)?([\w.-]+)\s*=\s*(?:'([^']*)'|\"([^\"]*)\")\s*\]")


@dataclass(frozen=True)
class Rule:
    """One ``rule`` of a rule-list (RFC 8341 section 3.5.3)."""

    name: str
    module: str = "*"
    kind: RuleKind = "any"
    target: str = "*"  # rpc-name / notification-name
    path: tuple[Step, ...] = ()
    ops: frozenset[str] = ALL_OPS
    permit: bool = False

    def matches_module(self, module: str) -> bool:
        return self.module in ("*", module)


@dataclass(frozen=True)
class RuleList:
    name: str
    groups: frozenset[str]
    rules: tuple[Rule, ...]


@dataclass
class NacmConfig:
    """The ``/nacm`` configuration, with the YANG defaults of RFC 8341 section 3.5."""

    enabled: bool = True
    read_default: bool = True  # True: permit
    write_default: bool = False
    exec_default: bool = True
    groups: dict[str, frozenset[str]] = field(default_factory=dict)  # group -> users
    rule_lists: tuple[RuleList, ...] = ()
    _cache: dict[tuple[str, str], tuple[Rule, ...]] = field(default_factory=dict, repr=False)

    def groups_of(self, user: str) -> frozenset[str]:
        return frozenset(g for g, users in self.groups.items() if user in users)

    def rules_for(self, user: str, access: Access) -> tuple[Rule, ...]:
        """The rules that can apply to ``user`` for ``access``, in evaluation order."""
        key = (user, access)
        hit = self._cache.get(key)
        if hit is None:
            mine = self.groups_of(user)
            hit = tuple(
                rule
                for rl in self.rule_lists
                if "*" in rl.groups or rl.groups & mine
                for rule in rl.rules
                if access in rule.ops
            )
            self._cache[key] = hit
        return hit

    def has_predicates(self, user: str, access: Access) -> bool:
        """Does any applicable path rule look at instance data (key predicates)?"""
        rules = self.rules_for(user, access)
        return any(keys for r in rules if r.kind == "path" for _ns, _name, keys in r.path)

    def permits_everything(self, user: str, access: Access) -> bool:
        """The first applicable rule permits every node of every module (admins)."""
        rules = self.rules_for(user, access)
        if not self.enabled:
            return True
        if not rules:
            return False
        first = rules[0]
        return first.permit and first.module == "*" and first.kind == "any"

    def decide_operation(self, user: str, module: str, name: str, deny_all: bool) -> bool:
        """Section 3.4.4: may ``user`` invoke rpc ``name`` of ``module``?"""
        if not self.enabled:
            return True
        for rule in self.rules_for(user, "exec"):
            if not rule.matches_module(module):
                continue
            if rule.kind == "any" or (rule.kind == "rpc" and rule.target in ("*", name)):
                return rule.permit
        return False if deny_all else self.exec_default

    def decide_notification(self, user: str, module: str, name: str, deny_all: bool) -> bool:
        """Section 3.4.6: may ``user`` receive notification ``name`` of ``module``?"""
        if not self.enabled:
            return True
        for rule in self.rules_for(user, "read"):
            if not rule.matches_module(module):
                continue
            if rule.kind == "any" or (rule.kind == "notification" and rule.target in ("*", name)):
                return rule.permit
        return False if deny_all else self.read_default

    def decide_data(
        self, user: str, access: Access, module: str, chain: Chain, ext: str | None
    ) -> bool:
        """Section 3.4.5: may ``user`` have ``access`` to the data node ``chain[-1]``?

        ``chain`` is the node with its ancestors, outermost first (below ``<data>``):
        elements, or (namespace, name) schema keys when no rule has key predicates;
        ``ext`` is the node's default-deny extension, if any.
        """
        if not self.enabled:
            return True
        for rule in self.rules_for(user, access):
            if not rule.matches_module(module):
                continue
            if rule.kind == "any" or (rule.kind == "path" and path_matches(rule.path, chain)):
                return rule.permit
        if ext == "default-deny-all" or (ext == "default-deny-write" and access != "read"):
            return False
        return self.read_default if access == "read" else self.write_default


# -- parsing ----------------------------------------------------------------------------


def parse_path(text: str, nsmap: Mapping[str, str]) -> tuple[Step, ...]:
    """A ``node-instance-identifier`` as steps; an unprefixed step keeps the namespace
    of the step before it (RFC 7950 9.13). ``/`` is the empty path (every node)."""
    steps: list[Step] = []
    ns: str | None = None
    for raw in [s for s in _split_steps(text.strip()) if s]:
        m = _STEP.fullmatch(raw.strip())
        if m is None:
            raise ValueError(f"bad path step {raw!r} in {text!r}")
        prefix, name, preds = m.groups()
        if prefix is not None:
            if prefix not in nsmap:
                raise ValueError(f"unknown prefix {prefix!r} in {text!r}")
            ns = nsmap[prefix]
        keys = tuple((k, a if a is not None else b) for k, a, b in _PRED.findall(preds or ""))
        steps.append((ns, name, keys))
    return tuple(steps)


def _split_steps(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "/" and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def path_matches(path: tuple[Step, ...], chain: Chain) -> bool:
    """A path rule covers the node it names and every descendant (RFC 8341 3.4.5)."""
    if len(path) > len(chain):
        return False
    for (ns, name, keys), item in zip(path, chain, strict=False):
        el: etree._Element | None = None
        if isinstance(item, tuple):
            item_ns, item_name = item
        else:
            el = item
            item_ns, _, item_name = str(item.tag)[1:].partition("}")
        if name != "*" and (item_name != name or (ns is not None and item_ns != ns)):
            return False
        for key, value in keys:
            found = el.find(f"{{{item_ns}}}{key}") if el is not None else None
            if found is None or (found.text or "").strip() != value:
                return False
    return True


def _text(el: etree._Element | None, name: str, default: str | None = None) -> str | None:
    if el is None:
        return default
    child = el.find(_N + name)
    if child is None:
        return default
    return (child.text or "").strip()


def _flag(el: etree._Element, name: str, default: bool, yes: str = "true") -> bool:
    value = _text(el, name)
    return default if value is None else value == yes


def parse_config(data: etree._Element | None, prefixes: dict[str, str] | None = None) -> NacmConfig:
    """The ``NacmConfig`` of a ``<data>`` tree (its ``/nacm``; defaults if absent).

    A path prefix not declared in the XML resolves through ``prefixes`` (module
    prefixes and names of the served modules, to namespaces). A rule whose path cannot
    be parsed never matches: it is skipped, which errs on the side of the defaults
    rather than of a permit the administrator did not write.
    """
    nacm = data.find(_N + "nacm") if data is not None else None
    if nacm is None:
        return NacmConfig()
    groups: dict[str, frozenset[str]] = {}
    for g in nacm.iterfind(f"{_N}groups/{_N}group"):
        users = frozenset((u.text or "").strip() for u in g.iterfind(_N + "user-name"))
        groups[_text(g, "name") or ""] = users
    lists = []
    for rl in nacm.iterfind(_N + "rule-list"):
        rules = []
        for r in rl.iterfind(_N + "rule"):
            rule = _parse_rule(r, prefixes or {})
            if rule is not None:
                rules.append(rule)
        names = frozenset((g.text or "").strip() for g in rl.iterfind(_N + "group"))
        lists.append(RuleList(_text(rl, "name") or "", names, tuple(rules)))
    return NacmConfig(
        enabled=_flag(nacm, "enable-nacm", True),
        read_default=_flag(nacm, "read-default", True, "permit"),
        write_default=_flag(nacm, "write-default", False, "permit"),
        exec_default=_flag(nacm, "exec-default", True, "permit"),
        groups=groups,
        rule_lists=tuple(lists),
    )


def _parse_rule(r: etree._Element, prefixes: dict[str, str]) -> Rule | None:
    ops_text = _text(r, "access-operations", "*") or ""
    ops = ALL_OPS if ops_text == "*" else frozenset(ops_text.split()) & ALL_OPS
    base = {
        "name": _text(r, "name") or "",
        "module": _text(r, "module-name", "*") or "*",
        "ops": ops,
        "permit": _text(r, "action") == "permit",
    }
    if (rpc := _text(r, "rpc-name")) is not None:
        return Rule(kind="rpc", target=rpc, **base)  # type: ignore[arg-type]  # base: the typed common fields
    if (notif := _text(r, "notification-name")) is not None:
        return Rule(kind="notification", target=notif, **base)  # type: ignore[arg-type]  # base: the typed common fields
    path_el = r.find(_N + "path")
    if path_el is not None:
        try:
            declared = {p: ns for p, ns in path_el.nsmap.items() if p is not None}
            path = parse_path(path_el.text or "/", {**prefixes, **declared})
        except ValueError:
            return None
        return Rule(kind="path", path=path, **base)  # type: ignore[arg-type]  # base: the typed common fields
    return Rule(**base)  # type: ignore[arg-type]  # base: the typed common fields


# -- the bootstrap configuration -------------------------------------------------------


def initial_config(admins: dict[str, list[str]] | None = None) -> etree._Element:
    """A ``<nacm>`` tree: the given groups (default: group ``admin`` with user
    ``admin``), and a rule-list ``admin`` permitting everything to group ``admin``."""
    groups = admins if admins is not None else {"admin": ["admin"]}
    nacm = etree.Element(_N + "nacm", nsmap={None: NACM_NS})
    grp = etree.SubElement(nacm, _N + "groups")
    for name, users in groups.items():
        g = etree.SubElement(grp, _N + "group")
        etree.SubElement(g, _N + "name").text = name
        for user in users:
            etree.SubElement(g, _N + "user-name").text = user
    rl = etree.SubElement(nacm, _N + "rule-list")
    etree.SubElement(rl, _N + "name").text = "admin"
    etree.SubElement(rl, _N + "group").text = "admin"
    rule = etree.SubElement(rl, _N + "rule")
    etree.SubElement(rule, _N + "name").text = "permit-all"
    etree.SubElement(rule, _N + "module-name").text = "*"
    etree.SubElement(rule, _N + "access-operations").text = "*"
    etree.SubElement(rule, _N + "action").text = "permit"
    return nacm
