"""Checks across the children of one data instance (RFC 7950 sections 7.6.5, 7.7.5,
7.8.3, 7.9.4): mandatory leaves and choices, min/max-elements, unique.

Apart from ``qnms.yang.validation``'s walk because they read a whole level at once
(what is present, how many entries each list has) rather than one node; the walk
gathers that level and hands it here. Schema facts they need are worked out once per
schema node: these run per list entry, 20,000 times in a bulk edit.
"""

from __future__ import annotations

import functools
from typing import Any

from qnms.yang.errors import ErrorTag
from qnms.yang.schema import Key, Schema, SchemaNode


class SiblingChecks:
    """The level checks of a validation run (mixed into ``validation.Validator``)."""

    schema: Schema
    constrained_by: dict[int, list[tuple[Key, SchemaNode]]]

    def problem(
        self, tag: ErrorTag, msg: str, el: Any, where: Any = None, suffix: str = "", **kw: Any
    ) -> None:
        raise NotImplementedError  # the run's collector (validation.Validator.problem)

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
