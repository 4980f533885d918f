"""Leafref instance checks (require-instance, RFC 7950 9.9).

Leafref paths are walked over the XML tree with their predicates dropped, so a value
is accepted if any instance of the target node holds it: never a false rejection, and
the common unfiltered paths (``../../node/name``, ``/a:x/a:y``) are exact.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

from lxml import etree

from qnms.yang.schema import Schema, SchemaNode
from qnms.yang.schema_types import Key

# Computed once per schema (every validation of a tree asks); dropped with the schema.
_PATHS: weakref.WeakKeyDictionary[Schema, list[tuple[SchemaNode, ...]]] = (
    weakref.WeakKeyDictionary()
)


def leafref_paths(schema: Schema) -> list[tuple[SchemaNode, ...]]:
    """Schema paths from the root to every config leafref that requires an instance."""
    known = _PATHS.get(schema)
    if known is not None:
        return known
    out: list[tuple[SchemaNode, ...]] = []
    stack: list[tuple[SchemaNode, ...]] = [(n,) for n in schema.roots.values() if n.config]
    while stack:
        path = stack.pop()
        node = path[-1]
        ref = node.type.leafref if node.type is not None else None
        if ref is not None and ref.require_instance:
            out.append(path)
        stack.extend((*path, c) for c in node.children.values() if c.config)
    _PATHS[schema] = out
    return out


def broken_leafrefs(
    schema: Schema, root: etree._Element
) -> Iterator[tuple[etree._Element, SchemaNode, str]]:
    """(leaf element, its schema node, its path) for each dangling reference."""
    # (anchor element, steps) -> values there
    cache: dict[tuple[etree._Element, tuple[Key, ...]], frozenset[str]] = {}
    for path in leafref_paths(schema):
        els = [root]
        for node in path:
            els = [c for e in els for c in e.iterchildren(node.tag)]
        node = path[-1]
        info = node.type.leafref if node.type is not None else None
        assert info is not None  # leafref_paths ends each path at a leafref leaf
        for el in els:
            anchor: etree._Element | None = root
            if not info.absolute:
                anchor = el
                for _ in range(info.ups):
                    anchor = anchor.getparent() if anchor is not None else None
            values: frozenset[str] = frozenset()
            if anchor is not None:
                key = (anchor, info.downs)
                found = cache.get(key)
                if found is None:
                    cur = [anchor]
                    for ns, name in info.downs:
                        tag = f"{{{ns}}}{name}"
                        cur = [c for x in cur for c in x.iterchildren(tag)]
                    found = cache[key] = frozenset((c.text or "") for c in cur)
                values = found
            if (el.text or "") not in values:
                yield el, node, info.path
