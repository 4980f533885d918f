"""Schema-aware helpers over lxml data trees: identities, paths, lookups and merges.

A data tree is a ``<data>`` (or ``<config>``) wrapper element whose children are the
top-level data nodes. Two data nodes are "the same" when they have the same tag and,
for list entries, the same key values, for leaf-list entries the same value. Values
are compared canonically: an identityref is compared by (namespace, name) because its
prefix is only a local alias. The changes between two trees are in ``qnms.yang.diff``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from lxml import etree

from qnms.yang.errors import NC_NS
from qnms.yang.schema import Key, Schema, SchemaNode

YANG_NS = "urn:ietf:params:xml:ns:yang:1"
DATA_TAG = f"{{{NC_NS}}}data"

Value = str | Key  # canonical leaf value: text, or (namespace, name) of an identity
Ident = tuple[Value, ...] | Value | None  # what tells siblings of one schema node apart
Chain = tuple[tuple[SchemaNode, Ident], ...]


def new_data() -> etree._Element:
    return etree.Element(DATA_TAG, nsmap={None: NC_NS})


def copy_with_ns(el: etree._Element) -> etree._Element:
    """Deep copy that keeps every namespace in scope declared on the copy.

    lxml's copies and moves keep only the declarations element and attribute names
    need; a prefix used in text (an identityref value) would be lost.
    """
    new = etree.Element(el.tag, attrib=dict(el.attrib), nsmap=el.nsmap)
    new.text = el.text
    for c in el:
        new.append(copy.copy(c))  # an lxml copy is deep; copy.copy skips the memo
    return new


def split_tag(tag: str | bytes | bytearray | etree.QName) -> Key:
    """``{ns}name`` as (ns, name). lxml's ``_Element.tag`` getter returns str; its stubs
    type it as whatever the setter accepts, so anything else is refused here."""
    if not isinstance(tag, str):
        raise TypeError(f"not an element tag: {tag!r}")
    if tag[:1] == "{":
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def resolve_qname(el: etree._Element, text: str) -> Key | None:
    """``prefix:name`` in the namespace context of ``el`` (RFC 7950 9.10.3)."""
    prefix, sep, name = text.strip().rpartition(":")
    ns = el.nsmap.get(prefix if sep else None)
    if ns is None or not name:
        return None
    return ns, name


def value_of(node: SchemaNode, el: etree._Element) -> Value:
    text = el.text or ""
    if node.type is not None and node.type.base == "identityref":
        return resolve_qname(el, text) or ("", text)
    return text


def ident_of(node: SchemaNode, el: etree._Element) -> Ident:
    """Key values of a list entry, the value of a leaf-list entry, else None.

    Raises ``LookupError`` (with the key name) when a list entry lacks a key.
    """
    if node.keyword == "list" and node.keys:
        vals: list[Value] = []
        first = el[0] if len(el) else None  # where a key usually is (RFC 7950 7.8.5)
        for k, tag, idref in _key_spec(node):
            # the first child with this tag, as find() (ElementPath: ~3x slower) gives it
            kel = first if first is not None and first.tag == tag else None
            if kel is None:
                kel = next(el.iterchildren(tag), None)
            if kel is None:
                raise LookupError(k)
            vals.append(kel.text or "" if idref is None else value_of(idref, kel))
        return tuple(vals)
    if node.keyword == "leaf-list":
        return value_of(node, el)
    return None


_KeySpec = tuple[tuple[str, str, SchemaNode | None], ...]
_key_specs: dict[int, tuple[SchemaNode, _KeySpec]] = {}


def _key_spec(node: SchemaNode) -> _KeySpec:
    """(name, tag, the key's node if an identityref) per key of list ``node``, worked out
    once: ``ident_of`` runs per entry, 20,000 times in a big edit (issue 13). Keyed by
    the node's id with the node kept beside it (so an id reused by a later schema's node
    is not mistaken for it); cleared when it grows past any one schema's lists."""
    hit = _key_specs.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    spec = []
    for k in node.keys:
        key = node.children[(node.ns, k)]
        idref = key.type is not None and key.type.base == "identityref"
        spec.append((k, f"{{{node.ns}}}{k}", key if idref else None))
    if len(_key_specs) >= 4096:
        _key_specs.clear()
    _key_specs[id(node)] = (node, tuple(spec))
    return _key_specs[id(node)][1]


def texts_below(el: etree._Element, tag: str) -> tuple[set[str], int] | None:
    """The distinct texts of the elements with ``tag`` below ``el``, and how many
    elements: one scan by tag in C and a light loop (issue 13: the leaves of 20,000
    entries; an XPath query took 3-7 times as long). None when one of them holds more
    than text (a comment, an element): then the caller looks at them one by one. For
    a tag that names one schema node below ``el``'s (``schema.sole_tags``)."""
    texts = set()
    n = 0
    for c in el.iterdescendants(tag):
        if len(c):
            return None
        texts.add(c.text or "")
        n += 1
    return texts, n


def show(value: Value, schema: Schema) -> str:
    if isinstance(value, tuple):
        prefix = schema.prefixes.get(value[0])
        return f"{prefix}:{value[1]}" if prefix else value[1]
    return value


def quote(value: str) -> str:
    return f'"{value}"' if "'" in value else f"'{value}'"


_step_heads: dict[SchemaNode, str] = {}


def step_text(schema: Schema, node: SchemaNode, ident: Ident) -> str:
    if isinstance(ident, tuple) and len(ident) == 1 and isinstance(ident[0], str):
        # one text key, the usual list: its "p:list[p:key=" worked out once per node
        # (a bulk edit formats 20,000 of these, issue 13)
        head = _step_heads.get(node)
        if head is None and node.keyword == "list" and len(node.keys) == 1:
            if len(_step_heads) >= 4096:
                _step_heads.clear()
            head = _step_heads[node] = f"{node.qname}[{node.prefix}:{node.keys[0]}="
        if head is not None:
            return f"{head}{quote(ident[0])}]"
    if node.keyword == "list" and isinstance(ident, tuple) and node.keys:
        return node.qname + "".join(
            f"[{node.prefix}:{k}={quote(show(v, schema))}]"
            for k, v in zip(node.keys, ident, strict=False)
        )
    if node.keyword == "leaf-list" and ident is not None:
        value = cast(Value, ident)  # a leaf-list entry is told apart by its one value
        return f"{node.qname}[.={quote(show(value, schema))}]"
    return node.qname


def chain_path(
    schema: Schema, chain: Chain, heads: dict[Chain, tuple[str, dict[str, str]]] | None = None
) -> tuple[str, dict[str, str]]:
    """The instance path of ``chain`` and the namespaces of its prefixes. ``heads``
    caches the paths of parent chains: the entries of one list share their parent's,
    so a bulk edit formats it once instead of once per entry, and share one namespace
    map too (read-only, as every holder of a change treats it)."""
    if heads is None or len(chain) < 2:
        parts = [step_text(schema, node, ident) for node, ident in chain]
        return "/" + "/".join(parts), {node.prefix: node.ns for node, _ in chain}
    node, ident = chain[-1]
    path, nsmap = path_below(schema, chain[:-1], node, heads)
    return f"{path}/{step_text(schema, node, ident)}", nsmap


def path_below(
    schema: Schema, head: Chain, node: SchemaNode, heads: dict[Chain, tuple[str, dict[str, str]]]
) -> tuple[str, dict[str, str]]:
    """The instance path of ``head`` ("" for the root) and the namespace map of the
    paths of its children of schema node ``node`` (``chain_path``, ``heads`` its cache)."""
    if not head:
        return "", {node.prefix: node.ns}
    known = heads.get(head)
    if known is None:
        known = heads[head] = chain_path(schema, head)
    nsmap = known[1]
    if nsmap.get(node.prefix) != node.ns:  # an augment's node: its own map
        nsmap = {**nsmap, node.prefix: node.ns}
    return known[0], nsmap


def chain_of(schema: Schema, el: etree._Element) -> Chain:
    """The chain of (schema node, ident) from the tree root down to ``el``."""
    els = []
    cur: etree._Element | None = el
    while cur is not None and cur.getparent() is not None:
        els.append(cur)
        cur = cur.getparent()
    chain = []
    node: SchemaNode | None = None
    for e in reversed(els):
        node = schema.child(node, split_tag(e.tag))
        if node is None:
            break
        try:
            ident = ident_of(node, e)
        except LookupError:
            ident = None
        chain.append((node, ident))
    return tuple(chain)


def path_of(schema: Schema, el: etree._Element) -> tuple[str, dict[str, str]]:
    return chain_path(schema, chain_of(schema, el))


def find_chain(root: etree._Element, chain: Chain) -> etree._Element | None:
    """The element at ``chain`` in another tree (e.g. the old version), or None."""
    cur = root
    for node, ident in chain:
        for c in cur.iterchildren(node.tag):
            try:
                if ident_of(node, c) == ident:
                    break
            except LookupError:
                continue
        else:
            return None
        cur = c
    return cur


_KEY_PRED = re.compile(r"\[\s*(?:[\w.-]+:)?([\w.-]+)\s*=\s*(?:'([^']*)'|\"([^\"]*)\")\s*\]")


def parse_key_predicates(text: str) -> dict[str, str]:
    """``[p:a='1'][p:b="2"]`` -> {'a': '1', 'b': '2'} (prefixes are not checked)."""
    out: dict[str, str] = {}
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _KEY_PRED.match(text, pos)
        if m is None:
            raise ValueError(f"bad key predicate {text!r}")
        out[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
        pos = m.end()
    if not out:
        raise ValueError(f"bad key predicate {text!r}")
    return out


class ChildIndex:
    """Children of one element by schema node and ident.

    The first few lookups per list run an XPath query (a C-speed scan); a map of
    all entries is built once a list is looked up more often, so an edit or diff
    touching many entries of a long list stays linear.
    """

    __slots__ = ("el", "lookups", "maps")

    def __init__(self, el: etree._Element) -> None:
        self.el = el
        self.maps: dict[str, dict[Ident, etree._Element]] = {}
        self.lookups: dict[str, int] = {}

    def _map(self, node: SchemaNode) -> dict[Ident, etree._Element]:
        m = self.maps.get(node.tag)
        if m is None:
            m = {}
            for c in self.el.iterchildren(node.tag):
                try:
                    m.setdefault(ident_of(node, c), c)
                except LookupError:
                    continue
            self.maps[node.tag] = m
        return m

    def entries(self, node: SchemaNode) -> dict[Ident, etree._Element]:
        """Every entry of ``node`` by its ident, kept in step by ``add`` and ``discard``
        (the caller may add to it too)."""
        return self._map(node)

    def get(self, node: SchemaNode, ident: Ident) -> etree._Element | None:
        if node.tag not in self.maps:
            n = self.lookups[node.tag] = self.lookups.get(node.tag, 0) + 1
            query = _entry_query(node) if n <= 4 else None
            vals = _plain(ident)
            if query is not None and vals is not None:
                args = {f"v{i}": v for i, v in enumerate(vals)}
                for c in query(self.el, **args):
                    return c
                return None
        return self._map(node).get(ident)

    def add(self, node: SchemaNode, ident: Ident, el: etree._Element) -> None:
        if node.tag in self.maps:
            self.maps[node.tag][ident] = el

    def discard(self, node: SchemaNode, ident: Ident) -> None:
        if node.tag in self.maps:
            self.maps[node.tag].pop(ident, None)


_queries: dict[tuple, etree.XPath | None] = {}


def _plain(ident: Ident) -> tuple[str, ...] | None:
    """The values of ``ident`` if all are text (XPath variables can carry them), else None."""
    vals = ident if isinstance(ident, tuple) else (ident,)
    text = tuple(v for v in vals if isinstance(v, str))
    return text if len(text) == len(vals) else None


def _entry_query(node: SchemaNode) -> etree.XPath | None:
    """``n:list[n:k1=$v0][n:k2=$v1][1]`` (or ``n:leaf-list[.=$v0][1]``) for direct
    lookups: ``[1]`` lets libxml2 stop at the first match instead of testing every
    entry (a small edit of a 2,000-entry list: 1.2 ms to 0.1 ms for an early entry)."""
    cache_key = (node.ns, node.name, node.keyword, node.keys)
    if cache_key in _queries:
        return _queries[cache_key]
    q = None
    ns = {"n": node.ns}
    if node.keyword == "list" and node.keys:
        preds = "".join(f"[n:{k}=$v{i}]" for i, k in enumerate(node.keys))
        q = etree.XPath(f"n:{node.name}{preds}[1]", namespaces=ns)
    elif node.keyword == "leaf-list":
        q = etree.XPath(f"n:{node.name}[.=$v0][1]", namespaces=ns)
    _queries[cache_key] = q
    return q


def strip_edit_attrs(el: etree._Element) -> etree._Element:
    """Drop edit-config attributes (nc:operation, yang:insert/key/value) in place."""
    for x in el.iter():
        for a in list(x.attrib):
            if a.startswith((f"{{{NC_NS}}}", f"{{{YANG_NS}}}")):
                del x.attrib[a]
    return el


_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)


def parse_xml(data: bytes) -> etree._Element:
    """Parse trusted XML (files the server itself wrote or was started with): blank
    text dropped, no entities resolved, nothing fetched."""
    return etree.fromstring(data, _PARSER)


# no libxml2 size limit may refuse a big tree; our own text has no entities to resolve
_OWN = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def parse_own(data: bytes | str) -> etree._Element:
    """Parse XML this process serialised itself (a memo, a kept text), as it is."""
    return etree.fromstring(data, _OWN)


def as_data_tree(schema: Schema, initial: Any) -> etree._Element:
    """A ``<data>`` tree from an element (``<data>``/``<config>`` wrapper or one
    top-level node), a list of top-level nodes, XML bytes or an XML file path."""
    if initial is None:
        return new_data()
    if isinstance(initial, (str, Path)):
        initial = parse_xml(Path(initial).read_bytes())
    elif isinstance(initial, bytes):
        initial = parse_xml(initial)
    if isinstance(initial, etree._Element):
        wrapped = split_tag(initial.tag) in schema.roots
        elements: Iterable = [initial] if wrapped else list(initial)
    else:
        elements = initial
    data = new_data()
    for e in elements:
        if isinstance(e.tag, str):
            data.append(strip_edit_attrs(copy_with_ns(e)))
    return data
