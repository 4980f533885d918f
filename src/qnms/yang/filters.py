"""RFC 6241 filtering of ``<data>`` trees: subtree filters (section 6) and XPath (8.9).

Both return a new ``<data>`` tree and never modify their input. Schema knowledge is
optional: when the caller passes the schema of the data (each server its own), partially
selected list entries carry their keys, as clients
need them to tell entries apart, and identityref values compare by identity.
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from qnms.yang.errors import NC_NS, ErrorTag, RpcError
from qnms.yang.schema import Schema, SchemaNode
from qnms.yang.tree import copy_with_ns, new_data, resolve_qname, split_tag
from qnms.yang.xpath_names import any_namespace_names


def _top(schema: Schema | None, key) -> SchemaNode | None:
    return schema.roots.get(key) if schema is not None else None


def _child(parent: SchemaNode | None, key) -> SchemaNode | None:
    if parent is None:
        return None
    return parent.children.get(key)


def _shallow(el: etree._Element) -> etree._Element:
    new = etree.Element(el.tag, attrib=dict(el.attrib), nsmap=el.nsmap)
    new.text = None
    return new


def _add_keys(out: etree._Element, src: etree._Element, node: SchemaNode | None) -> None:
    """Put the list keys of ``src`` first in ``out`` (if not already there)."""
    if node is None or node.keyword != "list" or not node.keys:
        return
    have = {c.tag for c in out}
    for i, k in enumerate(node.keys):
        tag = f"{{{node.ns}}}{k}"
        if tag in have:
            continue
        kel = src.find(tag)
        if kel is not None:
            out.insert(i, copy_with_ns(kel))


# ------------------------------------------------------------------------ subtree


def subtree_filter(
    data: etree._Element, filter_el: etree._Element, schema: Schema | None = None
) -> etree._Element:
    """Apply an RFC 6241 section 6 subtree filter (the ``<filter>`` element) to ``data``.

    An empty filter selects nothing. Unqualified filter nodes (``xmlns=""``) match
    any namespace; attributes on filter nodes (outside the NETCONF namespace) must
    match the data node's attributes.
    """
    out = new_data()
    if not any(isinstance(c.tag, str) for c in filter_el):
        return out
    children = _filter_children(filter_el, data, None, schema, top=True)
    for c in children or ():
        out.append(c)
    return out


def _is_element(f) -> bool:
    return isinstance(f.tag, str)


def _content_text(f: etree._Element) -> str | None:
    """The match value if ``f`` is a content match node, else None."""
    if any(_is_element(c) for c in f):
        return None
    text = (f.text or "").strip()
    return text or None


def _query(f: etree._Element) -> str:
    """The tag to look for: unqualified filter nodes match every namespace."""
    ns, name = split_tag(f.tag)
    return f"{{{ns}}}{name}" if ns else "{*}" + name


def _attrs_ok(f: etree._Element, d: etree._Element) -> bool:
    for name, value in f.attrib.items():
        if not name.startswith(f"{{{NC_NS}}}") and d.get(name) != value:
            return False
    return True


def _same_value(f, d, node: SchemaNode | None) -> bool:
    if any(_is_element(c) for c in d):
        return False
    ftext, dtext = (f.text or "").strip(), (d.text or "").strip()
    if node is not None and node.type is not None and node.type.base == "identityref":
        return resolve_qname(f, ftext) == resolve_qname(d, dtext)
    return ftext == dtext


def _filter_children(F, D, dnode, schema, top=False) -> list[etree._Element] | None:
    """Filtered copies of the children of data node ``D`` for filter node ``F``.

    None means the content match nodes of ``F`` rule ``D`` out altogether.
    """
    matches: list[etree._Element] = []
    others: list[etree._Element] = []
    for f in F:
        if _is_element(f):
            (others if top or _content_text(f) is None else matches).append(f)

    def node_of(d):
        key = split_tag(d.tag)
        return _top(schema, key) if dnode is None else _child(dnode, key)

    hits: set[etree._Element] = set()  # children equal to a content match node
    for f in matches:
        found = [
            d
            for d in D.iterchildren(_query(f))
            if _attrs_ok(f, d) and _same_value(f, d, node_of(d))
        ]
        if not found:
            return None
        hits.update(found)
    if not others:
        return [copy_with_ns(d) for d in D if _is_element(d)]
    wanted: dict[etree._Element, list[etree._Element]] = {}
    for f in others:
        fkey = split_tag(f.tag)
        quick = _quick_checks(f, _top(schema, fkey) if dnode is None else _child(dnode, fkey))
        for d in D.iterchildren(_query(f)):
            if _attrs_ok(f, d) and all(_has_text(d, q, t) for q, t in quick):
                wanted.setdefault(d, []).append(f)
    out: list[etree._Element] = []
    for d in D:
        if d in hits:
            out.append(copy_with_ns(d))
            continue
        fs = wanted.get(d)
        if fs is None:
            continue
        node = node_of(d)
        full = False
        partials: list[etree._Element] = []
        for f in fs:
            if not any(_is_element(c) for c in f):
                full = True  # selection node: the whole subtree
                break
            kids = _filter_children(f, d, node, schema)
            if kids is None or (not kids and any(_content_text(c) is None for c in f)):
                continue
            part = _shallow(d)
            for k in kids:
                part.append(k)
            partials.append(part)
        if full:
            out.append(copy_with_ns(d))
        elif partials:
            merged = partials[0]
            for extra in partials[1:]:
                _union(merged, extra)
            _add_keys(merged, d, node)
            out.append(merged)
    return out


def _quick_checks(f: etree._Element, fnode: SchemaNode | None) -> list[tuple[str, str]]:
    """Content matches of ``f`` that plain text comparison settles (not identityrefs).

    They rule out most entries of a long list before the full recursive match.
    """
    out = []
    for c in f:
        if not _is_element(c) or (t := _content_text(c)) is None:
            continue
        cnode = fnode.children.get(split_tag(c.tag)) if fnode is not None else None
        if cnode is not None and cnode.type is not None and cnode.type.base == "identityref":
            continue
        out.append((_query(c), t))
    return out


def _has_text(d: etree._Element, query: str, text: str) -> bool:
    return any((x.text or "").strip() == text for x in d.iterchildren(query))


def _union(a: etree._Element, b: etree._Element) -> None:
    """Merge filter output ``b`` into ``a`` (same node selected by two filter nodes)."""
    for c in b:
        same = [x for x in a if x.tag == c.tag and _same_text(x, c)]
        if same and len(c):
            _union(same[0], c)
        elif not same:
            a.append(c)


def _same_text(x, y) -> bool:
    return (x.text or "").strip() == (y.text or "").strip() if not len(x) else True


# -------------------------------------------------------------------------- xpath


def xpath_filter(
    data: etree._Element,
    select: str,
    nsmap: Mapping[str, str] | None = None,
    schema: Schema | None = None,
) -> etree._Element:
    """RFC 6241 8.9: the nodes ``select`` picks, with their ancestors.

    Each selected node comes with its whole subtree; each ancestor with only its list
    keys. ``nsmap`` binds the prefixes of the expression (those declared on the
    ``<filter>`` element). The expression sees the top-level data nodes as document
    roots, so ``/en:network/en:node`` works as in NETCONF.
    """
    namespaces = {p: ns for p, ns in (nsmap or {}).items() if p}
    given, select = select, any_namespace_names(select)
    try:
        etree.XPath(select, namespaces=namespaces)  # syntax errors, before any data
    except etree.XPathSyntaxError as exc:
        raise _bad_xpath(given, exc) from exc
    out = new_data()
    mapped: dict[etree._Element, etree._Element] = {}  # source node -> its output
    whole: set[etree._Element] = set()  # source nodes selected with their subtree
    for top in data:
        if not _is_element(top):
            continue
        try:
            # an ElementTree over ``top`` makes it the document root for ``/...``
            result = etree.ElementTree(top).xpath(select, namespaces=namespaces)
        except etree.XPathError as exc:
            raise _bad_xpath(given, exc) from exc
        if not isinstance(result, list):
            raise RpcError(
                ErrorTag.INVALID_VALUE,
                f"XPath filter {given!r} must select nodes, not a {type(result).__name__}",
                info=[("bad-attribute", "select"), ("bad-element", "filter")],
            )
        for item in result:
            el = item
            if not isinstance(el, etree._Element):  # text or attribute: its element
                getparent = getattr(item, "getparent", None)
                el = getparent() if getparent is not None else None
            if isinstance(el, etree._Element) and _is_element(el):
                _include(out, top, el, mapped, whole, schema)
    return out


def _bad_xpath(select: str, exc: Exception) -> RpcError:
    return RpcError(
        ErrorTag.INVALID_VALUE,
        f"invalid XPath filter {select!r}: {exc}",
        info=[("bad-attribute", "select"), ("bad-element", "filter")],
    )


def _include(out, top, el, mapped, whole, schema) -> None:
    chain = []
    cur = el
    while cur is not None:
        chain.append(cur)
        if cur is top:
            break
        cur = cur.getparent()
    chain.reverse()
    if any(src in whole for src in chain):
        return  # selected already, with its subtree
    parent_out = out
    node: SchemaNode | None = None
    for i, src in enumerate(chain):
        key = split_tag(src.tag)
        node = _top(schema, key) if i == 0 else _child(node, key)
        if src is el:
            full = copy_with_ns(src)
            if src in mapped:  # was an ancestor so far: the whole node replaces it
                parent_out.replace(mapped[src], full)
            else:
                parent_out.append(full)
            mapped[src] = full
            whole.add(src)
            return
        if src not in mapped:
            anc = _shallow(src)
            _add_keys(anc, src, node)
            parent_out.append(anc)
            mapped[src] = anc
            _map_keys(anc, src, node, mapped)
        parent_out = mapped[src]


def _map_keys(out, src, node: SchemaNode | None, mapped) -> None:
    """Record the key copies ``_add_keys`` made, so that selecting a key leaf itself
    (``.../memory/name``) replaces its copy instead of adding the key a second time."""
    if node is None or node.keyword != "list":
        return
    for k in node.keys:
        tag = f"{{{node.ns}}}{k}"
        kel, copied = src.find(tag), out.find(tag)
        if kel is not None and copied is not None:
            mapped[kel] = copied
