"""Fast evaluation of the subtree filters telemetry subscriptions use.

A YANG-Push selection is evaluated at every period and after every change, so its
cost decides how many updates an agent can push. The general filter engine
(``filters.subtree_filter``) walks every sibling in Python; two shapes cover almost
every telemetry subscription and can be evaluated with the same result, faster:

* keyed: a single path of containers down to one list entry named by all its keys
  (``<fabric><link><name>L1</name></link></fabric>``): the entry is found through an
  index of the list (built once per snapshot), the rest is filtered as usual;
* structural: only containment and selection nodes, no content match
  (``<fabric><link><telemetry/></link></fabric>``): the selected subtrees are found by
  tag and copied, with the keys of their list-entry ancestors (RFC 6241 6.2.5).

Both also work on the parts of the operational datastore before they are merged
(running config, and the state provider's nodes): keys select the same entries in
each part, and a filter without content matches selects from a union what it selects
from each part, so the small selections are merged instead of the whole datastore.
Anything else (content matches on non-key leaves in a structural filter, unqualified
nodes, attributes) takes the general path. The tests compare both paths.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence

from lxml import etree

from qnms.yang import filters
from qnms.yang.errors import NC_NS
from qnms.yang.schema import Schema, SchemaNode
from qnms.yang.tree import ChildIndex, Ident, ident_of, new_data, split_tag

ChildLookup = Callable[[SchemaNode | None, tuple[str, str]], SchemaNode | None]
Spec = dict[str, "Spec | None"]  # tag -> children spec, or None for a selection node
Part = tuple[Iterable[etree._Element], tuple]  # top-level nodes, cache identity
_NC_ATTR = f"{{{NC_NS}}}"


def _elements(el: etree._Element | Sequence[etree._Element]) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _copy(el: etree._Element) -> etree._Element:
    """A deep copy that keeps every namespace in scope (as ``tree.copy_with_ns``), at C
    speed when only a default namespace is in scope (no prefix can hide in text)."""
    nsmap = el.nsmap
    if not nsmap or (len(nsmap) == 1 and None in nsmap):
        return copy.copy(el)  # lxml copies are deep; this skips copy.deepcopy's memo
    new = etree.Element(el.tag, attrib=dict(el.attrib), nsmap=nsmap)
    new.text = el.text
    new.extend(list(copy.copy(el)))  # the copy's children
    return new


def compile_structural(flt: etree._Element) -> Spec | None:
    """The filter as nested {tag: spec}, if it has only containment/selection nodes."""
    spec: Spec = {}
    for c in _elements(flt):
        tag = c.tag
        assert isinstance(tag, str)  # _elements keeps elements only
        if not split_tag(tag)[0] or tag in spec:
            return None  # unqualified (any namespace) or repeated: general path
        if any(not name.startswith(_NC_ATTR) for name in c.attrib):
            return None  # attribute match
        if any(isinstance(g.tag, str) for g in c):
            sub = compile_structural(c)
            if sub is None:
                return None
            spec[tag] = sub
        elif (c.text or "").strip():
            return None  # a content match node
        else:
            spec[tag] = None
    return spec


class FastFilter:
    """The two fast paths, over a set of top-level nodes (a datastore or a part)."""

    def __init__(self, child: ChildLookup) -> None:
        self.child = child
        self._specs: dict[bytes, Spec | None] = {}
        self._not_keyed: set[bytes] = set()  # filters the keyed path turned down once

    def evaluate(
        self, parts: Sequence[Part], flt: etree._Element, key: bytes, schema: Schema | None,
        cache: dict | None,
    ) -> etree._Element | None:  # fmt: skip
        """The selection from the union of ``parts`` (merged with ``schema`` when more
        than one), or None when the filter has neither fast shape."""
        # Whether a filter has the keyed shape depends on the filter and the schema
        # (the data could only refuse it for two copies of one container): a filter
        # turned down once goes straight to the structural path from then on, both
        # give the same result, and every periodic update skips a walk that fails.
        keyed = [] if key in self._not_keyed else [
            self.keyed(roots, flt, cache, where) for roots, where in parts
        ]  # fmt: skip
        found = [k for k in keyed if k is not None]
        if keyed and len(found) < len(keyed):
            self._not_keyed.add(key)
        if keyed and len(found) == len(keyed):
            hits = [(t, x, e, n) for t, x, e, n in found if e is not None]
            if not hits:
                return new_data()
            tree, exact, entry, node = hits[0]
            for other in hits[1:]:  # the same entry in another part: merge entry-wise
                if schema is None:
                    return None
                _absorb(schema, node, entry, other[2], skip=node.keys)
            return tree if exact else filters.subtree_filter(tree, flt, schema)
        if key not in self._specs:
            self._specs[key] = compile_structural(flt)
        spec = self._specs[key]
        if spec is None:
            return None
        return self._merge([self.structural(roots, spec) for roots, _ in parts], schema)

    def _merge(self, trees: list[etree._Element], schema: Schema | None) -> etree._Element | None:
        full = [t for t in trees if len(t)]
        if len(full) <= 1:
            return full[0] if full else trees[0]
        if schema is None:
            return None
        for other in full[1:]:
            _absorb(schema, None, full[0], other)
        return full[0]

    # -- keyed ------------------------------------------------------------------------

    def keyed(
        self, roots: Iterable[etree._Element], flt: etree._Element, cache: dict | None,
        where: tuple,
    ) -> tuple[etree._Element, bool, etree._Element | None, SchemaNode] | None:  # fmt: skip
        """(the entry named by its keys, with its ancestors; whether that is already the
        filter's result; the entry in it, None if there is none; its list) or None for
        other filters. ``exact``: the entry is named by its keys only, so RFC 6241 6.2.5
        selects all of it."""
        out = parent_out = new_data()
        candidates: Iterable[etree._Element] = roots  # an element iterates its children
        f, node = flt, None
        path: tuple[str, ...] = ()  # tags walked: with ``where``, names the index
        while True:
            kids = _elements(f)
            if len(kids) != 1 or (f is not flt and (f.text or "").strip()) or kids[0].attrib:
                return None
            fk = kids[0]
            fk_tag = fk.tag
            assert isinstance(fk_tag, str)  # _elements keeps elements only
            key = split_tag(fk.tag)
            node = self.child(node, key) if key[0] else None
            if node is None:
                return None
            if node.keyword == "container":
                found = [c for c in candidates if c.tag == fk.tag]
                if len(found) > 1:
                    return None
                if not found:
                    return out, True, None, node  # selects nothing (not even ancestors)
                d = found[0]
                parent_out = etree.SubElement(parent_out, d.tag, dict(d.attrib), nsmap=d.nsmap)
                candidates, f, path = d, fk, (*path, fk_tag)
                continue
            if node.keyword != "list" or not node.keys:
                return None
            want = []
            for k in node.keys:
                kf = fk.find(f"{{{node.ns}}}{k}")
                leaf = node.children.get((node.ns, k))
                text = (kf.text or "").strip() if kf is not None else ""
                if (
                    kf is None
                    or not text  # a selection node, not a content match
                    or len(kf)
                    or leaf is None
                    or (leaf.type is not None and leaf.type.base == "identityref")
                ):
                    return None
                want.append(text)
            index = self._index(candidates, node, cache, (*where, *path))
            entry = index.get(tuple(want))
            if entry is None:
                return out, True, None, node
            entry = _copy(entry)
            parent_out.append(entry)
            return out, len(_elements(fk)) == len(node.keys), entry, node

    @staticmethod
    def _index(
        parent: Iterable[etree._Element], node: SchemaNode, cache: dict | None, where: tuple
    ) -> dict[tuple[str, ...], etree._Element]:
        # lxml element proxies come and go: the cache keys on the identity of the
        # snapshot part (alive as long as the cache) and the path below it.
        key = ("index", *where, node.tag)
        if cache is not None and key in cache:
            return cache[key]
        index: dict[tuple[str, ...], etree._Element] = {}
        tags = [f"{{{node.ns}}}{k}" for k in node.keys]
        for entry in parent:
            if entry.tag == node.tag:
                index.setdefault(tuple((entry.findtext(t) or "").strip() for t in tags), entry)
        if cache is not None:
            cache[key] = index
        return index

    # -- structural ---------------------------------------------------------------------

    def structural(self, roots: Iterable[etree._Element], spec: Spec) -> etree._Element:
        out = new_data()
        self._select(out, roots, spec, None)
        return out

    def _select(self, out: etree._Element, children: Iterable[etree._Element], spec: Spec,
                parent: SchemaNode | None) -> None:  # fmt: skip
        for d in children:
            if not isinstance(d.tag, str) or d.tag not in spec:
                continue
            sub = spec[d.tag]
            if sub is None:
                out.append(_copy(d))
                continue
            node = self.child(parent, split_tag(d.tag))
            part = etree.Element(d.tag, attrib=dict(d.attrib), nsmap=d.nsmap)
            self._select(part, d, sub, node)
            if not len(part):
                continue
            if node is not None and node.keyword == "list":
                have = {c.tag for c in part}
                for i, k in enumerate(node.keys):
                    tag = f"{{{node.ns}}}{k}"
                    kel = d.find(tag)
                    if tag not in have and kel is not None:
                        part.insert(i, _copy(kel))
            out.append(part)


def _absorb(schema: Schema, parent: SchemaNode | None, target: etree._Element,
            source: etree._Element, skip: Sequence[str] = ()) -> None:  # fmt: skip
    """Merge ``source`` into ``target`` as ``merge.merge_into`` does (state over config),
    moving nodes instead of copying them: both are selections this module just made.
    ``skip``: local names to leave alone (the keys of two entries known to match)."""
    # target's entries by identity (``ChildIndex``): a linear search per source entry
    # made a CS agent's 1,000 channels cost seconds
    index: ChildIndex | None = None
    for c in list(source):
        if not isinstance(c.tag, str) or (skip and split_tag(c.tag)[1] in skip):
            continue
        node = schema.child(parent, split_tag(c.tag))
        existing = None
        ident: Ident = None
        keyed = False
        if node is not None and node.keyword in ("container", "leaf", "anydata", "anyxml"):
            existing = target.find(c.tag)
        elif node is not None:  # list or leaf-list entry: same keys / value
            try:
                ident = ident_of(node, c)
            except LookupError:
                pass
            else:
                keyed = True
                if index is None:
                    index = ChildIndex(target)
                existing = index.get(node, ident)
        if existing is None:
            moved = _movable(c, target)
            target.append(moved)
            if keyed and index is not None and node is not None:  # later sources match it
                index.add(node, ident, moved)
        elif node is not None and node.keyword in ("container", "list"):
            _absorb(schema, node, existing, c)
        elif node is not None and node.keyword != "leaf-list":
            target.replace(existing, _movable(c, target))


def _movable(el: etree._Element, dest: etree._Element) -> etree._Element:
    """``el`` itself, or a namespace-keeping copy when a prefix in scope at ``el`` is
    not in scope at ``dest`` (a prefix used in text would lose its meaning)."""
    have = dest.nsmap
    if all(have.get(p) == ns for p, ns in el.nsmap.items() if p is not None):
        return el
    new = etree.Element(el.tag, attrib=dict(el.attrib), nsmap=el.nsmap)
    new.text = el.text
    new.extend(list(el))
    return new
