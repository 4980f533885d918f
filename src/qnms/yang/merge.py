"""Merging config-false state into a copy of the configuration (``<get>``).

Most of what a ``<get>`` merges are plain leaves (counters, states) below list entries
that exist already: those are written straight into the target (``_put_leaf``) instead
of going through a namespace-preserving deep copy each, children are found by tag in a
table built once per schema node, and list keys (equal by construction in a matched
entry) are not rewritten. A 20,000-entry ``<get>`` spent seconds here (issue 13).
Anything else is copied with ``copy_with_ns``.
"""

from __future__ import annotations

from lxml import etree

from qnms.yang.schema import Schema, SchemaNode, children_by_tag
from qnms.yang.tree import ChildIndex, copy_with_ns, ident_of

LEAFY = ("anydata", "anyxml")


def merge_into(schema: Schema, parent: SchemaNode | None, target, source) -> None:
    """Deep-merge copies of the children of ``source`` into ``target`` (state into config)."""
    _Merge(schema).merge(parent, target, source)


class _Merge:
    """One merge."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def merge(self, parent: SchemaNode | None, target, source) -> None:
        tags = children_by_tag(self.schema, parent)
        keys: tuple[str, ...] = ()
        key_ns = ""
        if parent is not None and parent.keyword == "list":
            keys, key_ns = parent.keys, parent.ns
        index: ChildIndex | None = None
        for c in source:
            tag = c.tag
            if not isinstance(tag, str):
                continue
            hit = tags.get(tag)
            if hit is None:
                target.append(copy_with_ns(c))
                continue
            node = hit[1]
            kw = node.keyword
            if kw == "leaf":
                if node.name in keys and node.ns == key_ns:
                    continue  # ``target`` is the entry with these keys: nothing to merge
                existing = next(target.iterchildren(tag), None)
                if _put_leaf(target, existing, c):
                    continue
                if existing is not None:
                    target.replace(existing, copy_with_ns(c))
                else:
                    target.append(copy_with_ns(c))
            elif kw == "container":
                existing = next(target.iterchildren(tag), None)
                if existing is not None:
                    self.merge(node, existing, c)
                else:
                    target.append(copy_with_ns(c))
            elif kw in LEAFY:
                existing = next(target.iterchildren(tag), None)
                if existing is not None:
                    target.replace(existing, copy_with_ns(c))
                else:
                    target.append(copy_with_ns(c))
            elif kw in ("list", "leaf-list"):
                try:
                    ident = ident_of(node, c)
                except LookupError:
                    target.append(copy_with_ns(c))
                    continue
                if index is None:
                    index = ChildIndex(target)
                existing = index.get(node, ident)
                if existing is not None:
                    if kw == "list":
                        self.merge(node, existing, c)
                    continue
                new = copy_with_ns(c)
                target.append(new)
                index.add(node, ident, new)
            else:
                target.append(copy_with_ns(c))


def _put_leaf(target: etree._Element, existing: etree._Element | None, c: etree._Element) -> bool:
    """Set leaf ``c`` in ``target`` without copying it, if that is safe: a value with
    no ``:`` needs no namespace declaration (an identityref's prefix would), and the
    new element takes its prefix from ``target``'s scope. False: copy it instead."""
    text = c.text
    if len(c) or (text is not None and ":" in text):
        return False
    if existing is None:
        existing = etree.SubElement(target, c.tag)
    elif existing.attrib:
        existing.attrib.clear()
    existing.text = text
    for name, value in c.attrib.items():
        existing.set(name, value)
    return True
