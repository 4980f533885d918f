"""Validation around an edit's changes (RFC 7950 8.3: a server validates what a change
can affect), assuming the tree was valid before them.

Apart from ``qnms.yang.validation``, whose ``Validator`` walks a whole tree, because an
edit's run has rules of its own: each changed subtree is walked, only the levels above
it are counted, many fresh entries of one list are judged together
(``qnms.yang.siblings``), and a leaf replaced in place leaves its levels alone. This
is the path of every edit-config (``datastore/checking.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from qnms.yang.diff import AnyChange, Change, CreatedEntries
from qnms.yang.schema import Key, Schema, SchemaNode
from qnms.yang.siblings import BATCH, counted, level_children
from qnms.yang.tree import split_tag
from qnms.yang.validation import Problem, Validator


class ChangeValidator(Validator):
    """One validation run over the changes to one tree (``validate_changes``)."""

    def run_changes(self, changes: Iterable[AnyChange], values: bool) -> list[Problem]:
        """Validate only around ``changes``, assuming the tree was valid before them.

        Each changed subtree is walked in full; the levels above it get the checks
        that count siblings (mandatory, min/max-elements, unique); leafrefs are
        checked where the changes wrote them and wherever they refer to what the
        changes removed (``leafrefs.broken_leafrefs``). Many fresh entries of one list
        under one parent are judged together (``fresh_entries``; ``fresh_texts`` for
        entries created together whose values the editor read). A leaf value replaced
        in place (``Change.in_place``) moves no presence, count or case above it, so its
        levels are left alone unless a list above it has ``unique`` (RFC 7950 8.3 lets a
        server validate what a change can affect; issue 13: four levels were a quarter of
        a small edit's CPU).
        """
        changes = list(changes)  # walked twice: here and for the leafrefs
        levels: dict[etree._Element, SchemaNode | None] = {}
        groups = _fresh_groups(changes)
        fresh: dict[tuple[SchemaNode, etree._Element], list[etree._Element]] = {}
        for ch in changes:
            if isinstance(ch, CreatedEntries):
                key = (ch.node, ch.parent)
                if not ch.stale and groups[key] == len(ch.entries) >= BATCH and key not in fresh:
                    fresh[key] = list(ch.entries)
                    self.read[key] = ch  # untouched since: the values it read are theirs
                else:
                    self.fresh_entry(ch.node, ch.entries, groups[key], fresh, values)
            else:
                el = ch.element
                if el is not None and ch.fresh:
                    self.fresh_entry(ch.node, (el,), groups[(ch.node, ch.parent)], fresh, values)
                elif el is not None and el.getparent() is not None:
                    self.visit(ch.node, el, values)
                if ch.in_place and not _unique_above(ch):
                    continue  # nothing counted above it moved (see the docstring)
            levels.setdefault(self.root, None)
            # the parent and its ancestors; their schema nodes follow from the tags
            # (not from the change's chain: an emptied container may have vanished)
            up = []
            cur: etree._Element | None = ch.parent if ch.parent is not None else self.root
            while cur is not None and cur not in levels:
                up.append(cur)
                cur = cur.getparent()
            if cur is None:
                continue  # a detached parent: nothing of it is left to check
            node, known = levels[cur], True
            for e in reversed(up):
                node = self.schema.child(node, split_tag(e.tag)) if known else None
                known = node is not None
                levels[e] = node
        for (node, parent), els in fresh.items():
            if not self.fresh_entries(node, parent, values):
                for el in els:
                    self.visit(node, el, values)
        if self.semantic:
            for el, node in levels.items():
                if el is self.root or node is not None:
                    self.level(node, el)
        self.leafrefs(changes)
        return self.problems

    def fresh_entry(self, node: SchemaNode, els, group: int, fresh: dict, values: bool) -> None:
        """Entries of ``node`` made by the editor's fast path: judged together with the
        others under their parent (``fresh``) when they are ``BATCH`` or more, else
        each walked now."""
        for el in els:
            parent = el.getparent()
            if parent is None:
                continue  # removed again by the same edit
            if group >= BATCH:
                fresh.setdefault((node, parent), []).append(el)
                self.read.pop((node, parent), None)  # not all of them were read
            else:
                self.visit(node, el, values)

    def level(self, pnode: SchemaNode | None, el) -> None:
        """The sibling-counting checks of one instance, without descending.

        Driven by the schema children a check reads (``level_children``), each found
        by a C-level tag scan; a list's entries are gathered only when min/max-elements
        or unique count them (issue 13).
        """
        present: set[Key] = set()
        counts: dict[Key, tuple[list, set]] = {}
        cases: dict[str, str] = {}
        children = self.schema.roots if pnode is None else pnode.children
        relevant = level_children(self.schema, pnode)
        for key, node in relevant:
            if node.is_list_like and counted(node):
                found = [(None, c) for c in el.iterchildren(node.tag)]
                if not found:
                    continue
                counts[key] = (found, set())
            elif el.find(node.tag) is None:
                continue
            present.add(key)
            for cid, case in node.cases:
                cases.setdefault(cid, case)
        self.mandatory(pnode, el, present, counts, cases, "")
        for key, (entries, _seen) in counts.items():
            node = children[key]
            if node.unique:
                self.check_unique(node, entries)


def _unique_above(ch: Change) -> bool:
    """Whether a list above ``ch`` has ``unique`` constraints (a value replaced in place
    may break one: its level is checked as for any other change)."""
    return any(node.unique for node, _ident in ch.chain[:-1] if node.keyword == "list")


def _fresh_groups(changes: list[AnyChange]) -> dict[tuple[SchemaNode, etree._Element | None], int]:
    """(list, parent) -> how many fresh entries (``Change.fresh``, ``CreatedEntries``)
    the changes made under it: from ``BATCH`` on they are judged together."""
    counts: dict[tuple[SchemaNode, etree._Element | None], int] = {}
    key: tuple[SchemaNode, etree._Element | None]
    for ch in changes:
        if isinstance(ch, CreatedEntries):
            key = (ch.node, ch.parent)
            counts[key] = counts.get(key, 0) + len(ch.entries)
        elif ch.fresh:
            key = (ch.node, ch.parent)
            counts[key] = counts.get(key, 0) + 1
    return counts


def validate_changes(
    schema: Schema,
    root: etree._Element,
    changes: Iterable[AnyChange],
    *,
    values: bool = True,
    deep_modules: frozenset[str] = frozenset(),
    semantic: bool = True,
) -> list[Problem]:
    """Problems ``changes`` introduced into ``root``, a tree that was valid before.

    ``values`` False skips value checks (the values were checked on the way in).
    """
    v = ChangeValidator(schema, root, deep_modules=deep_modules, semantic=semantic)
    return v.run_changes(changes, values)
