"""Checks across the children of one data instance (RFC 7950 sections 7.6.5, 7.7.5,
7.8.3, 7.9.4): mandatory leaves and choices, min/max-elements, unique.

Apart from ``qnms.yang.validation``'s walk because they read a whole level at once
(what is present, how many entries each list has) rather than one node; the walk
gathers that level and hands it here. Schema facts they need are worked out once per
schema node: these run per list entry, 20,000 times in a bulk edit.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from lxml import etree

from qnms.yang.diff import CreatedEntries
from qnms.yang.errors import ErrorTag
from qnms.yang.schema import Key, Schema, SchemaNode, sole_tags
from qnms.yang.tree import texts_below
from qnms.yang.values import (
    LeafCheck,
    TextCheck,
    leaf_check,
    no_check,
    plain_leaves,
    text_check,
    texts_check,
)

BATCH = 16  # fresh entries of one list under one parent from which they are checked together


@dataclass(frozen=True, slots=True)
class Plan:
    """How to judge an instance of one schema node that holds leaves alone, in one
    loop (issue 13: the usual created list entry; ``plain_instance``)."""

    checks: dict[str, LeafCheck]  # its config leaves outside choices, by tag
    mandatory: frozenset[str]  # the tags of those that must be present


class SiblingChecks:
    """The level checks of a validation run (mixed into ``validation.Validator``)."""

    schema: Schema
    constrained_by: dict[int, list[tuple[Key, SchemaNode]]]
    checks: dict[int, LeafCheck]
    plans: dict[int, Plan | None]
    text_checks: dict[int, TextCheck | None]
    read: dict[tuple[SchemaNode, etree._Element], CreatedEntries]
    deep_modules: frozenset[str]
    semantic: bool
    targets: set | None

    def walk(self, pnode: SchemaNode | None, el: Any, typed: bool) -> None:
        raise NotImplementedError  # the run's full walk (validation.Validator.walk)

    def problem(
        self, tag: ErrorTag, msg: str, el: Any, where: Any = None, suffix: str = "", **kw: Any
    ) -> None:
        raise NotImplementedError  # the run's collector (validation.Validator.problem)

    def visit_instance(self, node: SchemaNode, el: Any, typed: bool) -> None:
        if not self.plain_instance(node, el, typed):
            self.walk(node, el, typed)

    def plain_instance(self, node: SchemaNode, el: Any, typed: bool) -> bool:
        """Whether ``el``, an instance of ``node``, is made of leaves of ``node``'s plan
        (``plan``), each once, with valid values and every mandatory one present: then
        nothing is wrong in it. False (nothing reported) sends it to ``walk``, which
        finds and reports whatever is wrong."""
        if self.targets is not None:
            return False  # some children are typed and others not: walk's business
        plan = self.plan(node)
        if plan is None:
            return False
        checks = plan.checks
        seen = set()
        n = 0
        for c in el:
            tag = c.tag
            check = checks.get(tag)  # a comment's tag (a function) is in no plan
            if check is None or len(c):
                return False
            if typed and check is not no_check and check(c):
                return False
            seen.add(tag)
            n += 1
        return len(seen) == n and plan.mandatory <= seen

    def fresh_entries(self, node: SchemaNode, parent: etree._Element, typed: bool) -> bool:
        """Whether the entries of list ``node`` under ``parent`` are all valid, judged
        leaf by leaf across them (``tree.texts_below``) instead of entry by entry:
        every value of each plain leaf (``values.plain_leaves``) passes its check, and
        each mandatory leaf is in every entry. For entries the editor created by its
        fast path (``Change.fresh``: plain leaves alone, each once), that is all there
        is to check in them; the entries that were there were valid, and those other
        changes touched are visited apart. False (nothing reported): judge them one by
        one (a value is wrong, or a leaf holds more than text). Entries the editor
        created together and read on its way (``read``) are judged by those values."""
        made = self.read.get((node, parent))
        if made is not None:
            return self.fresh_texts(node, made.texts, len(made.entries), typed)
        plan = self.plan(node)
        if plan is None:
            return False
        sole = sole_tags(self.schema, node.parent)  # each leaf's instances found by tag
        counts: dict[str, int] = {}
        for tag, leaf in plain_leaves(node).items():
            check = self.text_check(leaf) if typed else None
            if check is None and tag not in plan.mandatory:
                continue
            found = texts_below(parent, tag) if tag in sole else None
            if found is None:
                return False
            texts, counts[tag] = found
            if check is not None and not self.texts_pass(leaf, check, texts):
                return False
        if plan.mandatory:
            n = sum(1 for _ in parent.iterchildren(node.tag))
            return all(counts[tag] == n for tag in plan.mandatory)
        return True

    def fresh_texts(
        self, node: SchemaNode, texts: dict[str, list[str]], n: int, typed: bool
    ) -> bool:
        """``fresh_entries`` for ``n`` entries of list ``node`` created together, whose
        leaves' values the editor read on its way (``diff.CreatedEntries.texts``): the
        same verdict without reading the entries again."""
        plan = self.plan(node)
        if plan is None:
            return False
        for tag, leaf in plain_leaves(node).items():
            found = texts.get(tag, ())
            if tag in plan.mandatory and len(found) != n:
                return False
            check = self.text_check(leaf) if typed else None
            if check is not None and not self.texts_pass(leaf, check, set(found)):
                return False
        return True

    def texts_pass(self, leaf: SchemaNode, check: TextCheck, texts: Collection[str]) -> bool:
        """Whether every one of ``texts`` is a valid value of plain leaf ``leaf``."""
        together = texts_check(leaf, leaf.module in self.deep_modules)
        return together(texts) if together is not None else not any(map(check, texts))

    def text_check(self, leaf: SchemaNode) -> TextCheck | None:
        key = id(leaf)
        if key not in self.text_checks:
            deep = leaf.module in self.deep_modules
            self.text_checks[key] = text_check(self.schema, leaf, deep)
        return self.text_checks[key]

    def plan(self, node: SchemaNode) -> Plan | None:
        """``node``'s plan, made once per run: its config leaves outside choices, each
        with the check ``check_leaf`` uses, and the mandatory ones. None when an
        instance of such leaves could still fail ``mandatory`` in another way (a
        mandatory choice, a list with min-elements, a container with mandatory nodes,
        a mandatory anydata): ``walk`` judges those."""
        key = id(node)
        if key in self.plans:
            return self.plans[key]
        plan = self.plans[key] = self._plan(node)
        return plan

    def _plan(self, node: SchemaNode) -> Plan | None:
        checks: dict[str, LeafCheck] = {}
        for child in node.children.values():
            if child.keyword == "leaf" and child.config and not child.cases:
                check = self.checks.get(id(child))
                if check is None:
                    deep = child.module in self.deep_modules
                    check = self.checks[id(child)] = leaf_check(self.schema, child, deep)
                checks[child.tag] = check
        mandatory = set()
        if self.semantic:
            if any(info.mandatory for info in node.choices.values()):
                return None
            for _key, ch in self.constrained(node):
                if ch.cases:
                    continue  # skipped while none of its choice's cases is present
                if ch.keyword in ("list", "leaf-list") and not ch.min_elements:
                    continue  # absent: 0 entries, within max-elements
                if ch.tag not in checks:
                    return None
                mandatory.add(ch.tag)
        return Plan(checks, frozenset(mandatory))

    def mandatory(self, pnode, el, present, counts, cases, suffix: str) -> None:
        """Mandatory leaves/choices and min/max-elements below instance ``el``."""
        for key, ch in self.constrained(pnode):
            if ch.cases and any(cases.get(cid) != case for cid, case in ch.cases):
                continue
            kw = ch.keyword
            if kw in ("leaf", "anydata", "anyxml"):
                if ch.mandatory and key not in present:
                    self.problem(
                        ErrorTag.MISSING_ELEMENT,
                        f"mandatory {ch.name} is missing",
                        el,
                        suffix=suffix,
                        info=[("bad-element", ch.name)],
                    )
            elif kw in ("list", "leaf-list"):
                entries = counts[key][0] if key in counts else []
                n = len(entries)
                if n < ch.min_elements:
                    self.problem(
                        ErrorTag.OPERATION_FAILED,
                        f"{ch.name} needs at least {ch.min_elements} entries, has {n}",
                        el,
                        suffix=f"{suffix}/{ch.qname}",
                        app_tag="too-few-elements",
                    )
                if ch.max_elements is not None and n > ch.max_elements:
                    self.problem(
                        ErrorTag.OPERATION_FAILED,
                        f"{ch.name} allows at most {ch.max_elements} entries, has {n}",
                        entries[ch.max_elements][1],
                        app_tag="too-many-elements",
                    )
            elif kw == "container" and not ch.presence and ch.has_mandatory and key not in present:
                self.mandatory(ch, el, set(), {}, {}, f"{suffix}/{ch.qname}")
        choices = self.schema.root_choices if pnode is None else pnode.choices
        for cid, info in choices.items():
            if info.mandatory and cid not in cases and self.choice_active(pnode, cid, cases):
                self.problem(
                    ErrorTag.DATA_MISSING,
                    f"one case of mandatory choice {info.name} is required",
                    el,
                    suffix=suffix,
                    app_tag="missing-choice",
                )

    def constrained(self, pnode: SchemaNode | None) -> list[tuple[Key, SchemaNode]]:
        """The config children of ``pnode`` that ``mandatory`` can find fault with,
        worked out once per run: it runs per list entry, 20,000 times in a bulk edit,
        and most children (optional leaves, state) have nothing to check."""
        known = self.constrained_by.get(id(pnode))
        if known is None:
            children = self.schema.roots if pnode is None else pnode.children
            known = self.constrained_by[id(pnode)] = [
                (key, ch) for key, ch in children.items() if ch.config and constrained(ch)
            ]
        return known

    def choice_active(self, pnode, cid: str, cases: dict[str, str]) -> bool:
        """A choice nested in a case only matters when that case is active."""
        children = self.schema.roots if pnode is None else pnode.children
        for ch in children.values():
            for i, (c, _case) in enumerate(ch.cases):
                if c == cid:
                    return all(cases.get(oc) == ocase for oc, ocase in ch.cases[:i])
        return True

    def check_unique(self, node: SchemaNode, entries: list) -> None:
        for spec in node.unique:
            seen: dict[tuple, object] = {}
            for _ident, entry in entries:
                vals = []
                for leaf_path in spec:
                    cur = entry
                    for ns, name in leaf_path:
                        cur = cur.find(f"{{{ns}}}{name}") if cur is not None else None
                    if cur is None:
                        break
                    vals.append(cur.text or "")
                else:
                    tup = tuple(vals)
                    if tup in seen:
                        names = " ".join(p[-1][1] for p in spec)
                        self.problem(
                            ErrorTag.OPERATION_FAILED,
                            f"unique ({names}) violated by {node.name} entries: {tup}",
                            entry,
                            app_tag="data-not-unique",
                        )
                    seen[tup] = entry


@functools.lru_cache(maxsize=4096)
def level_children(schema: Schema, pnode: SchemaNode | None) -> list[tuple[Key, SchemaNode]]:
    """The children of ``pnode`` whose presence ``level`` reads: counted lists, what
    ``mandatory`` looks for, and case members (they pick the active case). Looking for
    every child, per level, per edit, was most of a small edit's checks (issue 13);
    schemas never change once compiled, so this is worked out once per schema node."""
    children = schema.roots if pnode is None else pnode.children
    return [
        (key, node)
        for key, node in children.items()
        if (node.is_list_like and counted(node))
        or (node.config and constrained(node))
        or node.cases
    ]


def counted(node: SchemaNode) -> bool:
    """A list whose entries ``level`` gathers: unique, min- or max-elements."""
    return bool(node.unique or node.min_elements or node.max_elements is not None)


def constrained(ch: SchemaNode) -> bool:
    """A config child ``mandatory`` can find fault with."""
    kw = ch.keyword
    if kw in ("leaf", "anydata", "anyxml"):
        return ch.mandatory
    if kw in ("list", "leaf-list"):
        return bool(ch.min_elements) or ch.max_elements is not None
    return kw == "container" and not ch.presence and ch.has_mandatory


def prepare_fresh_entries(schema: Schema) -> None:
    """Work out now, at start-up, the tables ``fresh_entries`` keeps per schema node
    (``sole_tags``, ``restrictions.set_checker``). Built on first use, they were made
    in the middle of the first bulk edit, when only the arenas that edit had just added
    to Python's allocator had room, and each one of them kept one such 1 MiB arena
    resident for the process's life after the entries were deleted (issue 13)."""
    for node in schema.iter_nodes():
        if node.keyword != "list":
            continue
        sole_tags(schema, node.parent)
        for leaf in plain_leaves(node).values():
            texts_check(leaf, True)
