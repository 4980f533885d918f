"""Leafref instance checks (require-instance, RFC 7950 9.9).

Leafref paths are walked over the XML tree with their predicates dropped, so a value
is accepted if any instance of the target node holds it: never a false rejection, and
the common unfiltered paths (``../../node/name``, ``/a:x/a:y``) are exact.

After an edit of a tree that was valid, only two kinds of reference can be broken
(issue 13: every edit used to check every reference of the whole tree): those the edit
wrote (inside a created or replaced subtree) and those whose target the edit may have
removed or changed (every instance of a leafref whose target lies at or below a node
that was deleted, replaced or merged). ``broken_leafrefs`` with ``changes`` checks just
these; the target values are gathered once per anchor (a set, one lookup per reference).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lxml import etree

from qnms.yang.diff import AnyChange, CreatedEntries
from qnms.yang.schema import Schema, SchemaNode, sole_tags
from qnms.yang.schema_types import Key, LeafrefInfo
from qnms.yang.tree import texts_below

Steps = tuple[Key, ...]


@dataclass(slots=True, eq=False)
class Ref:
    """One config leafref that requires an instance, located in the schema."""

    path: tuple[SchemaNode, ...]  # from a top-level node down to the leafref leaf
    info: LeafrefInfo
    target: Steps | None  # data-node steps from the root to its target (None: unreachable)
    tags: tuple[str, ...] = ()  # the element tags along ``path``


@dataclass(slots=True)
class Refs:
    """The leafrefs of a schema, indexed by the data-node steps that lead to them."""

    all: list[Ref]
    below: dict[Steps, list[Ref]]  # steps of any ancestor (or the leaf) -> refs under it
    onto: dict[Steps, list[Ref]]  # steps of a target or its ancestors -> refs onto it


# Computed once per schema (every validation of a tree asks); dropped with the schema.
_REFS: weakref.WeakKeyDictionary[Schema, Refs] = weakref.WeakKeyDictionary()


def leafref_paths(schema: Schema) -> list[tuple[SchemaNode, ...]]:
    """Schema paths from the root to every config leafref that requires an instance."""
    return [ref.path for ref in schema_refs(schema).all]


def schema_refs(schema: Schema) -> Refs:
    known = _REFS.get(schema)
    if known is not None:
        return known
    refs = Refs([], {}, {})
    stack: list[tuple[SchemaNode, ...]] = [(n,) for n in schema.roots.values() if n.config]
    while stack:
        path = stack.pop()
        node = path[-1]
        info = node.type.leafref if node.type is not None else None
        if info is not None and info.require_instance:
            tags = tuple(n.tag for n in path)
            refs.all.append(Ref(path, info, _target(path, info), tags))
        stack.extend((*path, c) for c in node.children.values() if c.config)
    for ref in refs.all:
        steps = tuple((n.ns, n.name) for n in ref.path)
        for i in range(1, len(steps) + 1):
            refs.below.setdefault(steps[:i], []).append(ref)
        if ref.target is not None:
            for i in range(1, len(ref.target) + 1):
                refs.onto.setdefault(ref.target[:i], []).append(ref)
    _REFS[schema] = refs
    return refs


def _target(path: tuple[SchemaNode, ...], info: LeafrefInfo) -> Steps | None:
    if info.absolute:
        return info.downs
    if info.ups > len(path):
        return None  # above the root: no instance can exist, every value dangles
    anchor = path[: len(path) - info.ups]
    return tuple((n.ns, n.name) for n in anchor) + info.downs


def _instances(top: etree._Element, tags: tuple[str, ...]) -> Iterable[etree._Element]:
    """The elements ``tags`` lead to from ``top``."""
    if len(tags) == 1:  # a leafref leaf of a written entry: the usual case
        return top.iterchildren(tags[0])
    els = [top]
    for tag in tags:
        els = [c for e in els for c in e.iterchildren(tag)]
    return els


@dataclass(slots=True, eq=False)
class Batch:
    """Written entries of one list under one parent whose references of ``ref`` all
    have one anchor, at or above the parent: checked together (``_batch_ok``)."""

    ref: Ref
    parent: etree._Element
    depth: int  # len(steps) of the entries
    entries: list[etree._Element]
    texts: list[str] | None = None  # the references' values, when the editor read them


BATCH = 16  # written entries of one parent from which their references are checked at once


def _touched(
    refs: Refs, root: etree._Element, changes: Iterable[AnyChange], batches: list[Batch]
) -> Iterator[tuple[Ref, etree._Element]]:
    """(ref, leaf element) for each reference ``changes`` may have broken; the written
    references that can be checked at once are put in ``batches`` instead."""
    everywhere: dict[int, Ref] = {}  # id(ref) -> ref: every instance to be checked
    # written subtrees by (their schema node, their parent element), in change order
    written: dict[tuple[SchemaNode, etree._Element], list[etree._Element]] = {}
    # entries created together whose values the editor read (``CreatedEntries``), where
    # they are all that was written under their parent
    read: dict[tuple[SchemaNode, etree._Element], CreatedEntries] = {}
    # a schema node has one path: its steps and the refs below and onto them, worked out
    # once for all entries of a list (20,000 in a big edit)
    facts: dict[SchemaNode, tuple[Steps, list[Ref] | None, list[Ref]]] = {}

    def facts_of(node: SchemaNode, chain) -> tuple[Steps, list[Ref] | None, list[Ref]]:
        known = facts.get(node)
        if known is None:
            steps = tuple((n.ns, n.name) for n, _ident in chain)
            known = facts[node] = (steps, refs.below.get(steps), refs.onto.get(steps, []))
        return known

    for ch in changes:
        if isinstance(ch, CreatedEntries):  # creates: nothing referred to is gone
            node = ch.node
            if facts_of(node, (*ch.head, (node, None)))[1] is None:
                continue
            key = (node, ch.parent)
            if ch.stale:  # changed since: each entry where it is now
                for entry in ch.entries:
                    if (now := entry.getparent()) is not None:
                        read.pop((node, now), None)
                        written.setdefault((node, now), []).append(entry)
                continue
            if key not in written:
                read[key] = ch
            else:
                read.pop(key, None)
            written.setdefault(key, []).extend(ch.entries)
            continue
        if not ch.chain:  # the whole tree changed
            everywhere.update((id(ref), ref) for ref in refs.all)
            continue
        node = ch.chain[-1][0]
        known = facts_of(node, ch.chain)
        if ch.operation != "create":  # a value may be gone: whatever refers to it
            for ref in known[2]:
                everywhere[id(ref)] = ref
        el = ch.element
        if el is not None and known[1] is not None:
            parent = el.getparent()
            if parent is not None:
                read.pop((node, parent), None)
                written.setdefault((node, parent), []).append(el)
    for (node, parent), els in written.items():
        steps, below_refs, _onto = facts[node]
        depth = len(steps)
        made = read.get((node, parent))
        # a reference checked once for all the entries, or entry by entry
        each = []
        for ref in below_refs or ():  # never None: only such nodes were written down
            if id(ref) in everywhere:
                continue
            below = len(ref.tags) - depth  # levels from a written element to the leaf
            if below and len(els) >= BATCH and _one_anchor(ref, below):
                texts = made.texts.get(ref.tags[-1]) if made is not None and below == 1 else None
                batches.append(Batch(ref, parent, depth, els, texts))
            else:
                each.append((ref, below))
        if not each:
            continue
        for el in els:
            for ref, below in each:
                if not below:
                    yield ref, el  # the change is the leafref leaf itself
                    continue
                for leaf in _instances(el, ref.tags[depth:]):
                    yield ref, leaf
    for ref in everywhere.values():
        for leaf in _instances(root, ref.tags):
            yield ref, leaf


def _one_anchor(ref: Ref, below: int) -> bool:
    """Every instance of ``ref`` under one parent, ``below`` levels under its children,
    has the same anchor: the root, or the parent or one of its ancestors."""
    return ref.info.absolute or ref.info.ups > below


def _anchor(root: etree._Element, info: LeafrefInfo, leaf: etree._Element, ups: int):
    if info.absolute:
        return root
    anchor: etree._Element | None = leaf
    for _ in range(ups):
        anchor = anchor.getparent() if anchor is not None else None
    return anchor


def _batch_ok(schema: Schema, batch: Batch, values: frozenset[str]) -> bool:
    """Whether every instance of the batch's reference under its parent (the written
    entries', and those of the entries already there) holds one of ``values``: one
    scan in C (``tree.texts_below``) instead of an element walk per entry. False also
    when that cannot be told at once (a leaf holds more than text, or its tag is not
    its node's alone): then each is checked the usual way."""
    if batch.texts is not None:  # the written entries' own values (the others were valid)
        return values.issuperset(batch.texts)
    ref = batch.ref
    above = ref.path[batch.depth - 2] if batch.depth >= 2 else None  # the parent's node
    if ref.tags[-1] not in sole_tags(schema, above):
        return False
    found = texts_below(batch.parent, ref.tags[-1])
    return found is not None and values.issuperset(found[0])


def broken_leafrefs(
    schema: Schema, root: etree._Element, changes: Iterable[AnyChange] | None = None
) -> Iterator[tuple[etree._Element, SchemaNode, str]]:
    """(leaf element, its schema node, its path) for each dangling reference: in the
    whole tree, or (``changes`` given, the tree valid before them) where they reach."""
    refs = schema_refs(schema)
    batches: list[Batch] = []
    if changes is None:
        found: Iterable = ((ref, leaf) for ref in refs.all for leaf in _instances(root, ref.tags))
    else:
        found = _touched(refs, root, changes, batches)
    # (anchor element, id of the path's steps) -> the target values there: built once,
    # then a set lookup per reference
    cache: dict[tuple[etree._Element, int], frozenset[str]] = {}

    def targets(info: LeafrefInfo, anchor: etree._Element | None) -> frozenset[str]:
        if anchor is None:
            return frozenset()
        key = (anchor, id(info.downs))
        known = cache.get(key)
        if known is None:
            cur = [anchor]
            for ns, name in info.downs:
                tag = f"{{{ns}}}{name}"
                cur = [c for x in cur for c in x.iterchildren(tag)]
            known = cache[key] = frozenset((c.text or "") for c in cur)
        return known

    for ref, el in found:
        info = ref.info
        if (el.text or "") not in targets(info, _anchor(root, info, el, info.ups)):
            yield el, ref.path[-1], info.path
    for batch in batches:
        ref, info = batch.ref, batch.ref.info
        # the leaf is (tags below the parent) levels down: so many fewer ups from it
        ups = info.ups - (len(ref.tags) - batch.depth + 1)
        if _batch_ok(schema, batch, targets(info, _anchor(root, info, batch.parent, ups))):
            continue
        for el in batch.entries:  # one dangles at least: find it, the usual way
            for leaf in _instances(el, ref.tags[batch.depth :]):
                if (leaf.text or "") not in targets(info, _anchor(root, info, leaf, info.ups)):
                    yield leaf, ref.path[-1], info.path
