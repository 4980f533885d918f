"""ordered-by user: the ``insert``, ``key`` and ``value`` attributes (RFC 7950 7.7.9, 7.8.6).

New entries of any list go after the last entry of the same list, so the entries of a
list stay together in the XML; ``first``/``last``/``before``/``after`` place (or move)
entries of ordered-by user lists and leaf-lists.
"""

from __future__ import annotations

from lxml import etree

from qnms.yang.errors import ErrorTag, RpcError
from qnms.yang.schema import Schema, SchemaNode
from qnms.yang.tree import YANG_NS, Chain, Ident, chain_path, parse_key_predicates, resolve_qname

INSERT_ATTR = f"{{{YANG_NS}}}insert"
KEY_ATTR = f"{{{YANG_NS}}}key"
VALUE_ATTR = f"{{{YANG_NS}}}value"


def _error(tag: ErrorTag, msg: str, path: tuple[str, dict[str, str]], **kw) -> RpcError:
    return RpcError(tag, msg, path=path[0], path_ns=path[1], **kw)


def place(
    schema: Schema, data, node: SchemaNode, e, el, chain: Chain, index, *, moving: bool
) -> bool:
    """Insert ``el`` (new, or existing when ``moving``) where ``e``'s insert says.

    Returns whether an existing element actually moved.
    """
    where = e.get(INSERT_ATTR) if node.is_list_like else None
    if where is not None and not node.user_ordered:
        raise _error(
            ErrorTag.BAD_ATTRIBUTE,
            f"insert is only allowed on ordered-by user lists, not {node.name}",
            chain_path(schema, chain),
            info=[("bad-attribute", "insert"), ("bad-element", node.name)],
        )
    if where not in (None, "first", "last", "before", "after"):
        raise _error(
            ErrorTag.BAD_ATTRIBUTE,
            f"bad insert value {where!r}",
            chain_path(schema, chain),
            info=[("bad-attribute", "insert"), ("bad-element", node.name)],
        )
    anchor: etree._Element | None = None
    if where in ("before", "after"):
        anchor = _anchor(schema, node, e, chain, index)
        if anchor is el:
            return False
    old_pos = data.index(el) if moving else None
    if moving:
        data.remove(el)
    if where == "first":
        first = next(data.iterchildren(node.tag), None)
        if first is not None:
            first.addprevious(el)
        else:
            append_after_peers(data, node, el)
    elif anchor is not None:  # where is "before" or "after"
        if where == "before":
            anchor.addprevious(el)
        else:
            anchor.addnext(el)
    else:
        append_after_peers(data, node, el)
    index.add(node, chain[-1][1], el)
    return not moving or data.index(el) != old_pos


def _anchor(schema: Schema, node: SchemaNode, e, chain: Chain, index) -> etree._Element:
    attr, text = (
        (KEY_ATTR, e.get(KEY_ATTR))
        if node.keyword == "list"
        else (
            VALUE_ATTR,
            e.get(VALUE_ATTR),
        )
    )
    name = attr.rpartition("}")[2]
    if text is None:
        raise _error(
            ErrorTag.MISSING_ATTRIBUTE,
            f"insert before/after on {node.name} needs the {name} attribute",
            chain_path(schema, chain),
            info=[("bad-attribute", name), ("bad-element", node.name)],
        )
    try:
        if node.keyword == "list":
            preds = parse_key_predicates(text)
            keys = tuple(preds[k] for k in node.keys)
            ident: Ident = _resolve_ident(node, keys, e)
        else:
            ident = text
            if node.type is not None and node.type.base == "identityref":
                ident = resolve_qname(e, text) or ("", text)
    except (ValueError, KeyError):
        raise _error(
            ErrorTag.BAD_ATTRIBUTE,
            f"bad {name} attribute {text!r} on {node.name}",
            chain_path(schema, chain),
            info=[("bad-attribute", name), ("bad-element", node.name)],
        ) from None
    found: etree._Element | None = index.get(node, ident)
    if found is None:
        raise _error(
            ErrorTag.BAD_ATTRIBUTE,
            f"{name} {text!r} of {node.name} refers to an entry that does not exist",
            chain_path(schema, chain),
            info=[("bad-attribute", name), ("bad-element", node.name)],
            app_tag="missing-instance",
        )
    return found


def append_after_peers(data, node: SchemaNode, el) -> None:
    tag = node.tag
    try:
        last_child = data[-1]  # found directly (lxml's len() counts the children)
    except IndexError:
        last_child = None
    if last_child is not None and last_child.tag == tag:
        data.append(el)  # the usual bulk case, without a tag-filtered iterator
        return
    last = next(data.iterchildren(tag, reversed=True), None)
    if last is not None:
        last.addnext(el)
    else:
        data.append(el)


def _resolve_ident(node: SchemaNode, ident: tuple, e) -> tuple:
    out = []
    for k, v in zip(node.keys, ident, strict=True):
        leaf = node.children[(node.ns, k)]
        if leaf.type is not None and leaf.type.base == "identityref":
            out.append(resolve_qname(e, v) or ("", v))
        else:
            out.append(v)
    return tuple(out)
