"""Checking a proposed datastore tree: validation, binding decode, continue-on-error.

Stateless apart from the schema and the binding validator, so the datastore manager
keeps only the bookkeeping (which tree is installed where, locks, files, listeners).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lxml import etree

from qnms.netconf.datastore.memory import size
from qnms.yang.bindings import BindingValidator, Resync, Roots
from qnms.yang.change_validation import validate_changes
from qnms.yang.diff import AnyChange, diff, one_by_one
from qnms.yang.errors import RpcError, RpcErrors
from qnms.yang.schema import Schema
from qnms.yang.siblings import prepare_fresh_entries
from qnms.yang.tree import chain_of, copy_with_ns, find_chain
from qnms.yang.validation import Problem, validate_tree

log = logging.getLogger(__name__)
Thunks = list[Callable[[], None]]


@dataclass(slots=True)
class Store:
    """One datastore: its tree (never modified once installed) and its objects."""

    tree: etree._Element
    roots: Roots | None = None  # pyangbind objects, None until materialised
    checked: bool = True  # every value in the tree passed the type checks
    text: tuple[etree._Element, bytes] | None = None  # a tree serialised, ``serialized``

    def __setattr__(self, name: str, value: object) -> None:
        if name == "tree":  # a new tree: the old one's text must not keep it alive
            object.__setattr__(self, "text", None)
        object.__setattr__(self, name, value)


BULK_NODES = 2000  # above this many changed nodes, binding objects are rebuilt on demand


def raise_problems(problems: Sequence[Problem | RpcError]) -> None:
    """Raise one ``RpcError``, or ``RpcErrors`` when there are several."""
    errors = [p.error if isinstance(p, Problem) else p for p in problems]
    if len(errors) == 1:
        raise errors[0]
    raise RpcErrors(errors)


def dedupe(problems: list[Problem]) -> list[Problem]:
    """Drop repeats: a value both our checks and pyangbind reject is one error."""
    seen = set()
    out = []
    for p in problems:
        k = (p.error.path, p.error.tag, tuple(p.error.info))
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out


class Checker:
    """Validates trees against the schema and prepares the binding-object updates."""

    def __init__(self, schema: Schema, binder: BindingValidator) -> None:
        self.schema = schema
        self.binder = binder
        prepare_fresh_entries(schema)  # now, not in a bulk edit (memory, issue 13)

    def prepare(self, store: Store, tree, changes: Sequence[AnyChange]) -> tuple[Thunks, list]:
        try:
            return self.binder.prepare(store.roots, one_by_one(self.schema, changes))
        except Resync as exc:
            log.warning("rebuilding binding objects: %s", exc)
            roots, problems = self.binder.decode(tree)
            return [lambda: setattr(store, "roots", roots)], problems

    def check(
        self,
        store: Store,
        tree,
        changes: Sequence[AnyChange],
        *,
        semantic: bool = True,
        values: bool = True,
        full: bool = False,
    ) -> tuple[Thunks, list[Problem]]:
        """Validate ``tree`` (the result of ``changes`` to ``store``); prepare bindings.

        ``full`` validates the whole tree (untrusted content); otherwise only around
        the changes. ``values`` False trusts the values (checked when they entered).
        """
        bind = store.roots is not None and (full or size(changes) <= BULK_NODES)
        # Without binding objects to keep in step, pyang's type checks stand in for
        # pyangbind's on every module: decoding a bulk edit into pyangbind costs ~10 ms
        # per list entry, pyang's checks a few microseconds.
        deep = self.binder.unbound if bind else frozenset(m.name for m in self.schema.modules)
        if full:
            problems = validate_tree(self.schema, tree, deep_modules=deep, semantic=semantic)
        else:
            problems = validate_changes(
                self.schema, tree, changes, values=values, deep_modules=deep, semantic=semantic
            )
        thunks: Thunks = []
        if bind:
            thunks, more = self.prepare(store, tree, changes)
            problems += more
        elif store.roots is not None:
            # A bulk edit: drop the objects; bindings() rebuilds them when asked.
            thunks = [lambda: setattr(store, "roots", None)]
        return thunks, dedupe(problems)

    def salvage(self, store: Store, work, errors: list[RpcError], semantic: bool):
        """continue-on-error: undo each change that fails validation, keep the rest.

        A problem is blamed on the changed subtree that contains it (a bad leaf in a
        new entry drops the entry). A problem outside every change (a leafref whose
        target the edit deleted) cannot be pinned down: after a few rounds the whole
        edit is abandoned and every error reported.
        """
        errors = list(errors)
        for _round in range(4):
            changes = diff(self.schema, store.tree, work)
            thunks, problems = self.check(store, work, changes, semantic=semantic)
            if not problems:
                return work, changes, errors, thunks
            errors.extend(p.error for p in problems)
            changed = {c.element for c in changes if c.element is not None}
            for p in problems:
                el: etree._Element | None = p.element
                while el is not None and el not in changed:
                    el = el.getparent()
                self.revert(store.tree, work, el if el is not None else p.element)
        return store.tree, [], errors, []

    def revert(self, old_tree, work, el) -> None:
        if el is work or el.getroottree().getroot() is not work:
            return  # the root, or already reverted along with an ancestor
        old = find_chain(old_tree, chain_of(self.schema, el))
        parent = el.getparent()
        if old is not None:
            parent.replace(el, copy_with_ns(old))
        else:
            parent.remove(el)
