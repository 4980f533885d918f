"""RFC 6243: the :with-defaults capability on get, get-config and copy-config.

The basic mode is ``explicit`` (RFC 6243 section 3.3) because that is what the
datastores store: a leaf is in a datastore exactly when a client (or the network file)
set it, whether or not its value equals the schema default, and the server never
writes defaults in. So ``explicit`` is the data as stored; ``report-all`` (3.1) adds
every default leaf and leaf-list that is in effect (in existing containers and list
entries, in non-presence containers, in the active or default case of a choice);
``trim`` (3.2) drops leaves whose value equals their default; ``report-all-tagged``
(3.4) is report-all with ``wd:default="true"`` on every leaf at its default value.

Defaults come from the agent's own schema (``DatastoreManager.schema``); the server's
protocol state trees (monitoring, yang-library, subscriptions) are reported as the
server sets them. The mode is applied before the filter, so a filter can select a
default node (RFC 6243 section 4.5).
"""

from __future__ import annotations

import inspect
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from lxml import etree

from qnms.netconf.protocol.dispatch import Handler, Reply
from qnms.netconf.protocol.messages import as_element
from qnms.netconf.protocol.operations import (
    READ_DATASTORES,
    apply_filter,
    datastore,
    perr,
)
from qnms.yang.errors import NC_NS, ErrorTag, RpcError
from qnms.yang.schema import ChoiceInfo, Schema, SchemaNode
from qnms.yang.tree import resolve_qname, split_tag

if TYPE_CHECKING:
    from qnms.netconf.protocol.session import NetconfSession, ServerCore

WD_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults"
DEFAULT_ATTR_NS = "urn:ietf:params:xml:ns:netconf:default:1.0"  # RFC 6243 section 6
DEFAULT_ATTR = f"{{{DEFAULT_ATTR_NS}}}default"
BASIC_MODE = "explicit"
MODES = ("report-all", "trim", "explicit", "report-all-tagged")
CAPABILITY = (
    "urn:ietf:params:netconf:capability:with-defaults:1.0"
    f"?basic-mode={BASIC_MODE}&also-supported=report-all,trim,report-all-tagged"
)
_INTEGERS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})


def install(core: ServerCore) -> None:
    """Accept ``<with-defaults>`` on get, get-config and copy-config."""
    ops = core.operations
    for name, config_only in (("get", False), ("get-config", True)):
        original = ops.handler(NC_NS, name)
        if original is not None:
            ops.register(NC_NS, name, _read_handler(original, config_only))
    original = ops.handler(NC_NS, "copy-config")
    if original is not None:
        ops.register(NC_NS, "copy-config", _copy_handler(original))
    original = ops.handler(NC_NS, "edit-config")
    if original is not None:
        ops.register(NC_NS, "edit-config", _edit_handler(original))


def take_mode(op: etree._Element) -> str | None:
    """Remove the ``<with-defaults>`` parameter from ``op``; its mode, if given."""
    found = [c for c in op if isinstance(c.tag, str) and c.tag == f"{{{WD_NS}}}with-defaults"]
    if not found:
        return None
    if len(found) > 1:
        raise perr(ErrorTag.BAD_ELEMENT, "parameter 'with-defaults' given twice",
                   ("bad-element", "with-defaults"))  # fmt: skip
    mode = (found[0].text or "").strip()
    if mode not in MODES:
        raise perr(ErrorTag.INVALID_VALUE, f"with-defaults must be one of {', '.join(MODES)}, "
                   f"not {mode!r}", ("bad-element", "with-defaults"))  # fmt: skip
    op.remove(found[0])
    return mode


async def _call(handler: Handler[NetconfSession], s: NetconfSession, op: etree._Element) -> Reply:
    result = handler(s, op)
    if inspect.isawaitable(result):
        result = await result
    return result


def _read_handler(original: Handler[NetconfSession], config_only: bool) -> Handler[NetconfSession]:
    async def handler(s: NetconfSession, op: etree._Element) -> Reply:
        mode = take_mode(op)
        schema = getattr(s.core.datastores, "schema", None)
        if mode in (None, BASIC_MODE) or not isinstance(schema, Schema):
            return await _call(original, s, op)
        flt = op.find(f"{{{NC_NS}}}filter")
        if flt is not None:
            op.remove(flt)  # the mode applies to the data the filter then selects
        reply = await _call(original, s, op)
        if not reply:
            return reply
        data = as_element(reply[0])  # a shared text is parsed: the mode rewrites it
        apply_mode(schema, data, mode, config_only=config_only)
        return [apply_filter(data, flt, s.core.schema), *reply[1:]]

    return handler


def _copy_handler(original: Handler[NetconfSession]) -> Handler[NetconfSession]:
    """RFC 6243 4.5.3: the source of copy-config is read in the given mode."""

    async def handler(s: NetconfSession, op: etree._Element) -> Reply:
        mode = take_mode(op)
        schema = getattr(s.core.datastores, "schema", None)
        source = op.find(f"{{{NC_NS}}}source")
        if mode in (None, BASIC_MODE) or not isinstance(schema, Schema) or source is None:
            return await _call(original, s, op)
        kids = [c for c in source if isinstance(c.tag, str)]
        if len(kids) == 1 and kids[0].tag == f"{{{NC_NS}}}config":
            data = kids[0]
        elif len(kids) == 1 and etree.QName(kids[0]).localname in READ_DATASTORES:
            data = s.core.datastores.get_config(datastore(source, READ_DATASTORES))
            data.tag = f"{{{NC_NS}}}config"
            source.remove(kids[0])
            source.append(data)
        else:
            return await _call(original, s, op)  # its own error for a bad source
        apply_mode(schema, data, "report-all" if mode == "report-all-tagged" else mode,
                   config_only=True)  # fmt: skip
        return await _call(original, s, op)

    return handler


def _edit_handler(original: Handler[NetconfSession]) -> Handler[NetconfSession]:
    """RFC 6243 section 6: ``wd:default="true"`` in edited data must name a default value
    (it is accepted, so report-all-tagged output can be edited and sent back)."""

    async def handler(s: NetconfSession, op: etree._Element) -> Reply:
        schema = getattr(s.core.datastores, "schema", None)
        config = op.find(f"{{{NC_NS}}}config")
        if isinstance(schema, Schema) and config is not None:
            check_default_attributes(schema, config)
        return await _call(original, s, op)

    return handler


# compiled once: compiling the expression cost more than evaluating it on a small edit
_HAS_DEFAULT_ATTR = etree.XPath("boolean(.//@wd:default)", namespaces={"wd": DEFAULT_ATTR_NS})


def check_default_attributes(schema: Schema, config: etree._Element) -> None:
    """invalid-value for a leaf tagged ``wd:default="true"`` that does not hold its default."""
    if not _HAS_DEFAULT_ATTR(config):
        return  # the usual edit: one pass in C, not a walk in Python

    def visit(_parent: etree._Element, leaf: etree._Element, node: SchemaNode) -> None:
        if (leaf.get(DEFAULT_ATTR) or "").strip() in ("true", "1") and not is_default(node, leaf):
            raise RpcError(
                ErrorTag.INVALID_VALUE,
                f"{node.name} is tagged wd:default but {leaf.text!r} is not its default",
                info=[("bad-attribute", "default"), ("bad-element", node.name)],
            )

    _walk(schema, config, None, visit)


# -- the modes on a data tree ------------------------------------------------------------


def apply_mode(schema: Schema, data: etree._Element, mode: str, *, config_only: bool) -> None:
    """Rewrite ``data`` (a ``<data>`` or ``<config>`` tree) in place for ``mode``."""
    if mode == "trim":
        _walk(schema, data, None, _trim)
        return
    if mode in ("report-all", "report-all-tagged"):
        _Filler(schema, config_only, mode == "report-all-tagged").fill(data, None)


def _walk(schema: Schema, el: etree._Element, node: SchemaNode | None, visit) -> None:
    for child in list(el):
        if not isinstance(child.tag, str):
            continue
        key = split_tag(child.tag)
        cnode = schema.roots.get(key) if node is None else node.children.get(key)
        if cnode is None:
            continue
        if cnode.keyword == "leaf":
            visit(el, child, cnode)
        elif cnode.keyword in ("container", "list"):
            _walk(schema, child, cnode, visit)


def _trim(parent: etree._Element, leaf: etree._Element, node: SchemaNode) -> None:
    if node.default and is_default(node, leaf):
        parent.remove(leaf)


def is_default(node: SchemaNode, el: etree._Element) -> bool:
    """Does leaf ``el`` hold its schema default (compared by value, not by text)?"""
    if len(node.default) != 1 or node.type is None:
        return False
    text, default = (el.text or "").strip(), node.default[0]
    base = node.type.base
    if base == "identityref":
        return resolve_qname(el, text) == _identity(node, default)
    if base == "decimal64":
        try:
            return Decimal(text) == Decimal(default)
        except InvalidOperation:
            return False
    if base in _INTEGERS:
        try:
            return int(text, 0) == int(default, 0)
        except ValueError:
            return False
    return text == default


def _identity(node: SchemaNode, default: str) -> tuple[str, str] | None:
    """The identity a default such as ``qt:fibre`` names (by its accepted identities)."""
    name = default.rpartition(":")[2]
    found = [k for k in (node.type.identities if node.type else ()) if k[1] == name]
    return found[0] if len(found) == 1 else None


class _Filler:
    """report-all: add the defaults in effect under each existing node."""

    def __init__(self, schema: Schema, config_only: bool, tagged: bool) -> None:
        self.schema = schema
        self.config_only = config_only
        self.tagged = tagged
        # top-level defaults exist only for implemented modules (not import-only ones)
        self.implemented = {m.namespace for m in schema.modules if m.conformance == "implement"}

    def fill(self, el: etree._Element, node: SchemaNode | None) -> None:
        table = self.schema.roots if node is None else node.children
        choices = self.schema.root_choices if node is None else node.choices
        present: dict[tuple[str, str], list[etree._Element]] = {}
        for child in el:
            if isinstance(child.tag, str):
                present.setdefault(split_tag(child.tag), []).append(child)
        for key, children in present.items():
            cnode = table.get(key)
            if cnode is None:
                continue
            for child in children:
                if cnode.keyword in ("container", "list"):
                    self.fill(child, cnode)
                elif cnode.keyword == "leaf" and self.tagged and is_default(cnode, child):
                    el.replace(child, _tagged(child))
        chosen = {case for key in present if (n := table.get(key)) is not None for case in n.cases}
        for key, cnode in table.items():
            if key in present or (self.config_only and not cnode.config):
                continue
            if not _case_in_effect(cnode, chosen, choices):
                continue
            if node is None and (cnode.keyword != "container" or key[0] not in self.implemented):
                continue  # top level: only non-presence containers exist implicitly
            self._add(el, cnode)

    def _add(self, el: etree._Element, node: SchemaNode) -> None:
        if node.keyword in ("leaf", "leaf-list") and node.default:
            for value in node.default:
                self._leaf(el, node, value)
        elif node.keyword == "container" and not node.presence:
            new = etree.SubElement(el, node.tag)
            self.fill(new, node)
            if not len(new):
                el.remove(new)

    def _leaf(self, el: etree._Element, node: SchemaNode, value: str) -> None:
        nsmap: dict[str, str] = {}
        if node.type is not None and node.type.base == "identityref":
            ident = _identity(node, value)
            if ident is None:
                return
            prefix = self.schema.prefixes.get(ident[0], "d")
            nsmap[prefix] = ident[0]
            value = f"{prefix}:{ident[1]}"
        if self.tagged:
            nsmap["wd"] = DEFAULT_ATTR_NS
        leaf = etree.SubElement(el, node.tag, nsmap=nsmap or None)
        leaf.text = value
        if self.tagged:
            leaf.set(DEFAULT_ATTR, "true")


def _tagged(leaf: etree._Element) -> etree._Element:
    """A copy of ``leaf`` with ``wd:default="true"`` (the ``wd`` prefix declared on it)."""
    new = etree.Element(
        leaf.tag, attrib=dict(leaf.attrib), nsmap={**leaf.nsmap, "wd": DEFAULT_ATTR_NS}
    )
    new.text = leaf.text
    new.set(DEFAULT_ATTR, "true")
    return new


def _case_in_effect(
    node: SchemaNode, chosen: set[tuple[str, str]], choices: dict[str, ChoiceInfo]
) -> bool:
    """RFC 7950 7.9.3: a case's defaults apply when it is chosen, or when it is the
    choice's default case and no case of that choice is chosen."""
    for cid, case in node.cases:
        if (cid, case) in chosen:
            continue
        info = choices.get(cid)
        if info is None or info.default_case != case:
            return False
        if any(c == cid for c, _ in chosen):
            return False
    return True
