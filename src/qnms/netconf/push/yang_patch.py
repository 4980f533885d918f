"""What a YANG-Push receiver gets: push-update snapshots and YANG patches (RFC 8072).

An on-change receiver keeps a replica of its selection and applies each
``push-change-update`` to it, so the patch must be exact and as small as a change
allows: ``diff`` compares the last pushed copy with the new one node by node (list
entries by key, leaf-list entries by value, through the schema when it is known) and
yields leaf-level ``replace`` edits, ``create`` edits carrying the whole new subtree
and ``delete`` edits. Where entries cannot be told apart (keyless lists, unknown
nodes repeated) the enclosing node is replaced whole, which is still exact.

Targets are RFC 8040 paths relative to the datastore root, as RFC 8641's examples
use: ``/module:top/child/list=key1,key2/leaf``, a node's name qualified by its module
only where the module changes, key values percent-encoded.

Messages are rendered straight to bytes: a push-update is mostly the serialised
selection, and building it as one string avoids copying trees per receiver.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote
from xml.sax.saxutils import escape

from lxml import etree

from qnms.netconf.push.errors import NOTIF_NS, YP_NS
from qnms.yang.diff import same_content
from qnms.yang.schema import SchemaNode
from qnms.yang.tree import ident_of, split_tag, value_of

ChildLookup = Callable[[SchemaNode | None, tuple[str, str]], SchemaNode | None]
_XML_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_LEAFY = ("leaf", "leaf-list", "anydata", "anyxml")


@dataclass(frozen=True, slots=True)
class Edit:
    """One RFC 8072 edit: what happened, where, and the new node (create/replace)."""

    operation: str  # create, delete, replace (RFC 8641 change-type names)
    target: str
    value: etree._Element | None = None


class PathNamer:
    """RFC 8040 path steps for data nodes, qualified by module name where it changes."""

    def __init__(self, module_of_ns: dict[str, str]) -> None:
        self.module_of_ns = module_of_ns

    def module(self, node: SchemaNode | None, el: etree._Element) -> str:
        if node is not None:
            return node.module
        ns, _ = split_tag(el.tag)
        return self.module_of_ns.get(ns, ns)

    def step(self, node: SchemaNode | None, el: etree._Element, parent_module: str) -> str:
        module = self.module(node, el)
        name = split_tag(el.tag)[1]
        text = name if module == parent_module else f"{module}:{name}"
        if node is not None and node.keyword == "list" and node.keys:
            vals = [el.findtext(f"{{{node.ns}}}{k}") or "" for k in node.keys]
            text += "=" + ",".join(quote(v.strip(), safe="") for v in vals)
        elif node is not None and node.keyword == "leaf-list":
            text += "=" + quote((el.text or "").strip(), safe="")
        return text


def _entries(
    el: etree._Element, parent: SchemaNode | None, child: ChildLookup
) -> dict[tuple[str, object], tuple[SchemaNode | None, etree._Element]] | None:
    """Children by identity, or None when two children cannot be told apart."""
    out: dict[tuple[str, object], tuple[SchemaNode | None, etree._Element]] = {}
    for c in el:
        if not isinstance(c.tag, str):
            continue
        node = child(parent, split_tag(c.tag))
        ident: object = None
        if node is not None:
            try:
                ident = ident_of(node, c)
            except LookupError:
                return None
        key = (c.tag, ident)
        if key in out:
            return None
        out[key] = (node, c)
    return out


def _is_leaf(node: SchemaNode | None, a: etree._Element, b: etree._Element) -> bool:
    if node is not None:
        return node.keyword in _LEAFY
    return not any(isinstance(c.tag, str) for c in a) and not any(isinstance(c.tag, str) for c in b)


def _leaf_equal(node: SchemaNode | None, a: etree._Element, b: etree._Element) -> bool:
    if node is None:
        return (a.text or "").strip() == (b.text or "").strip()
    if node.keyword in ("anydata", "anyxml"):
        return same_content(a, b)
    return value_of(node, a) == value_of(node, b)


def diff(
    old: etree._Element,
    new: etree._Element,
    child: ChildLookup,
    namer: PathNamer,
) -> list[Edit]:
    """The edits that turn data tree ``old`` into ``new`` (both ``<data>`` wrappers)."""
    out: list[Edit] = []
    _diff(old, new, None, "", "", child, namer, out)
    return out


def _diff(old, new, parent, path, module, child, namer, out) -> None:
    olds = _entries(old, parent, child)
    news = _entries(new, parent, child)
    if olds is None or news is None:
        if not same_content(old, new):
            out.append(Edit("replace", path or "/", new))
        return
    for key, (node, o) in olds.items():
        if key not in news:
            out.append(Edit("delete", f"{path}/{namer.step(node, o, module)}"))
    for key, (node, n) in news.items():
        step = f"{path}/{namer.step(node, n, module)}"
        hit = olds.get(key)
        if hit is None:
            out.append(Edit("create", step, n))
        elif _is_leaf(node, hit[1], n):
            if not _leaf_equal(node, hit[1], n):
                out.append(Edit("replace", step, n))
        elif etree.tostring(hit[1]) != etree.tostring(n):  # equal bytes: nothing to see
            _diff(hit[1], n, node, step, namer.module(node, n), child, namer, out)


# -- rendering ----------------------------------------------------------------------------


def event_time(ts: float | None = None) -> str:
    """``yang:date-and-time`` with microseconds, so back-to-back pushes stay ordered."""
    return _event_time(ts if ts is not None else time.time())


@functools.lru_cache(maxsize=256)  # the pushes of one instant share their time
def _event_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _nodes(data: etree._Element) -> Iterator[bytes]:
    for c in data:
        if isinstance(c.tag, str):
            yield etree.tostring(c, with_tail=False)


def push_update(sub_id: int, ts: float, data: etree._Element, body: bytes | None = None) -> bytes:
    """RFC 8641 ``push-update`` with the selected top-level nodes of ``data`` (``body``:
    those nodes already serialised)."""
    return b"".join(
        (
            _XML_DECL,
            f'<notification xmlns="{NOTIF_NS}"><eventTime>{event_time(ts)}</eventTime>'
            f'<push-update xmlns="{YP_NS}"><id>{sub_id}</id><datastore-contents>'.encode(),
            *((body,) if body is not None else _nodes(data)),
            b"</datastore-contents></push-update></notification>",
        )
    )


def push_change_update(sub_id: int, ts: float, patch_id: str, edits: list[Edit]) -> bytes:
    """RFC 8641 ``push-change-update``: the edits as an RFC 8072 ``yang-patch``."""
    parts = [
        _XML_DECL,
        f'<notification xmlns="{NOTIF_NS}"><eventTime>{event_time(ts)}</eventTime>'
        f'<push-change-update xmlns="{YP_NS}"><id>{sub_id}</id><datastore-changes>'
        f"<yang-patch><patch-id>{escape(patch_id)}</patch-id>".encode(),
    ]
    for i, edit in enumerate(edits, 1):
        parts.append(
            f"<edit><edit-id>edit{i}</edit-id><operation>{edit.operation}</operation>"
            f"<target>{escape(edit.target)}</target>".encode()
        )
        if edit.value is not None and edit.target == "/":  # the whole selection
            parts.extend((b"<value>", *_nodes(edit.value), b"</value>"))
        elif edit.value is not None:
            parts.extend((b"<value>", etree.tostring(edit.value, with_tail=False), b"</value>"))
        parts.append(b"</edit>")
    parts.append(b"</yang-patch></datastore-changes></push-change-update></notification>")
    return b"".join(parts)
