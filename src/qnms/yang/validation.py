"""Validation of a whole data tree against the schema (RFC 7950 section 8).

Runs on the candidate result of an edit, a copy-config source or a loaded file, before
anything is applied. It checks what needs the whole tree (list keys and duplicates,
case exclusivity, mandatory nodes, min/max-elements, unique, leafref instances) and
the value checks pyangbind does not do (lexical form of numbers, fraction-digits,
identityref derivation resolved through XML namespaces, enumerations). Ranges,
lengths and patterns are pyangbind's job (see ``qnms.yang.bindings``); for modules
without a binding class, pyang's own type validators stand in. An edit's run, which
validates only around its changes, is ``qnms.yang.change_validation`` (built on this
module's ``Validator``).

Not checked: ``must`` and ``when`` expressions, leafref predicates (a leafref is
checked against every instance of its target node, ignoring ``[...]`` filters).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from qnms.yang.diff import AnyChange, CreatedEntries
from qnms.yang.errors import ErrorTag, RpcError
from qnms.yang.leafrefs import broken_leafrefs
from qnms.yang.schema import Key, Schema, SchemaNode, children_by_tag
from qnms.yang.siblings import Plan, SiblingChecks
from qnms.yang.tree import ident_of, path_of, split_tag
from qnms.yang.values import LeafCheck, TextCheck, leaf_check, no_check


@dataclass(slots=True)
class Problem:
    """An error and the node to blame (what continue-on-error reverts)."""

    error: RpcError
    element: etree._Element


class Validator(SiblingChecks):
    """One validation run over one tree; collects every problem it finds (the checks
    across the children of one instance live in ``qnms.yang.siblings``)."""

    def __init__(
        self,
        schema: Schema,
        root: etree._Element,
        *,
        typed: Iterable[etree._Element] | None = None,
        deep_modules: frozenset[str] = frozenset(),
        semantic: bool = True,
    ) -> None:
        self.schema = schema
        self.semantic = semantic
        self.root = root
        self.targets = None if typed is None else set(typed)
        self.deep_modules = deep_modules
        self.problems: list[Problem] = []
        self.checks: dict[int, LeafCheck] = {}  # id(schema node) -> its prepared check
        self.constrained_by: dict[int, list[tuple[Key, SchemaNode]]] = {}  # see constrained
        self.plans: dict[int, Plan | None] = {}  # id(schema node) -> see plain_plan
        self.text_checks: dict[int, TextCheck | None] = {}  # id(leaf node) -> see fresh_entries
        # (list, parent) -> the entries created there together, all of its fresh ones,
        # whose values the editor read (``fresh_entries`` takes them from there)
        self.read: dict[tuple[SchemaNode, etree._Element], CreatedEntries] = {}

    def run(self) -> list[Problem]:
        self.walk(None, self.root, self.targets is None)
        self.leafrefs()
        return self.problems

    def visit(self, node: SchemaNode, el, typed: bool) -> None:
        if node.keyword in ("leaf", "leaf-list"):
            if typed:
                self.check_leaf(node, el)
        elif node.keyword in ("container", "list"):
            self.visit_instance(node, el, typed)

    def check_leaf(self, node: SchemaNode, c) -> None:
        check = self.checks.get(id(node))
        if check is no_check:
            return
        if check is None:
            deep = node.module in self.deep_modules
            check = self.checks[id(node)] = leaf_check(self.schema, node, deep)
        msg = check(c)
        if msg:
            self.problem(
                ErrorTag.INVALID_VALUE,
                f"invalid value for {node.name}: {msg}",
                c,
                info=[("bad-element", node.name)],
            )

    def leafrefs(self, changes: Iterable[AnyChange] | None = None) -> None:
        """Every leafref instance in the tree (or those ``changes`` reach: see
        ``leafrefs``) must point at an existing value."""
        if not self.semantic:
            return
        for el, node, path in broken_leafrefs(self.schema, self.root, changes):
            self.problem(
                ErrorTag.DATA_MISSING,
                f"{node.name} {el.text or ''!r} refers to no existing {path}",
                el,
                app_tag="instance-required",
            )

    def problem(self, tag: ErrorTag, msg: str, el, where=None, suffix="", **kw) -> None:
        path, nsmap = path_of(self.schema, where if where is not None else el)
        if suffix:
            path = path.rstrip("/") + suffix
        err = RpcError(tag, msg, path=path, path_ns=nsmap, **kw)
        for ns, prefix in self.schema.prefixes.items():
            if f"/{prefix}:" in suffix:
                err.path_ns[prefix] = ns
        self.problems.append(Problem(err, el))

    def walk(self, pnode: SchemaNode | None, el, typed: bool) -> None:
        schema = self.schema
        present: set[Key] = set()
        counts: dict[Key, tuple[list, set]] = {}
        cases: dict[str, str] = {}
        checks = self.checks
        tags = children_by_tag(schema, pnode)
        for c in el:
            tag = c.tag
            if not isinstance(tag, str):
                continue
            hit = tags.get(tag)
            if hit is None:
                self.unknown(c, split_tag(tag))
                continue
            key, node = hit
            kw = node.keyword
            if kw == "leaf" and node.config and not node.cases and key not in present:
                # the usual child (issue 13: 80,000 of them in a 20,000-entry edit): a
                # leaf seen once, in no choice; the general path below reports the rest
                present.add(key)
                if len(c):
                    self.problem(
                        ErrorTag.INVALID_VALUE,
                        f"leaf {node.name} must not contain elements",
                        c,
                        info=[("bad-element", node.name)],
                    )
                elif typed or (self.targets is not None and c in self.targets):
                    check = checks.get(id(node))
                    if check is None or (check is not no_check and check(c)):
                        self.check_leaf(node, c)  # prepares the check; reports
                continue
            if not node.config:
                self.problem(
                    ErrorTag.INVALID_VALUE,
                    f"{node.name} is config false and not allowed in configuration",
                    c,
                    info=[("bad-element", node.name)],
                )
                continue
            if not self.identify(node, c, key, present, counts):
                continue
            for cid, case in node.cases:
                seen = cases.setdefault(cid, case)
                if seen != case:
                    self.problem(
                        ErrorTag.BAD_ELEMENT,
                        f"{node.name} is in case {case} but case {seen} of the same "
                        f"choice is present",
                        c,
                        info=[("bad-element", node.name)],
                    )
            c_typed = typed or (self.targets is not None and c in self.targets)
            if kw in ("leaf", "leaf-list"):
                if len(c):
                    self.problem(
                        ErrorTag.INVALID_VALUE,
                        f"{kw} {node.name} must not contain elements",
                        c,
                        info=[("bad-element", node.name)],
                    )
                elif c_typed:
                    self.check_leaf(node, c)
            elif kw in ("container", "list"):
                self.visit(node, c, c_typed)
        if not self.semantic:
            return
        self.mandatory(pnode, el, present, counts, cases, "")
        for key, (entries, _seen) in counts.items():
            listed = schema.child(pnode, key)
            if listed is not None and listed.unique:
                self.check_unique(listed, entries)

    def identify(self, node: SchemaNode, c, key: Key, present: set, counts: dict) -> bool:
        """Track the child; report missing keys and duplicate instances."""
        if node.keyword in ("list", "leaf-list"):
            try:
                ident = ident_of(node, c)
            except LookupError as missing:
                self.problem(
                    ErrorTag.MISSING_ELEMENT,
                    f"list entry {node.name} lacks its key {missing.args[0]}",
                    c,
                    info=[("bad-element", missing.args[0])],
                )
                return False
            entries, seen = counts.setdefault(key, ([], set()))
            if node.keys or node.keyword == "leaf-list":
                if ident in seen:
                    self.problem(
                        ErrorTag.DATA_EXISTS,
                        f"duplicate {node.keyword} entry {node.name}",
                        c,
                        info=[("bad-element", node.name)],
                    )
                    return False
                seen.add(ident)
            entries.append((ident, c))
        elif key in present:
            self.problem(
                ErrorTag.BAD_ELEMENT,
                f"{node.name} appears more than once",
                c,
                info=[("bad-element", node.name)],
            )
            return False
        present.add(key)
        return True

    def unknown(self, c, key: Key) -> None:
        ns, name = key
        if ns not in self.schema.prefixes:
            self.problem(
                ErrorTag.UNKNOWN_NAMESPACE,
                f"element {name} is in unknown namespace {ns!r}",
                c,
                where=c.getparent(),
                info=[("bad-element", name), ("bad-namespace", ns)],
            )
        else:
            self.problem(
                ErrorTag.UNKNOWN_ELEMENT,
                f"unknown element {self.schema.prefixes[ns]}:{name}",
                c,
                info=[("bad-element", name)],
            )


def validate_tree(
    schema: Schema,
    root: etree._Element,
    *,
    typed: Iterable[etree._Element] | None = None,
    deep_modules: frozenset[str] = frozenset(),
    semantic: bool = True,
) -> list[Problem]:
    """All problems of the data tree ``root``.

    Value checks run only inside the ``typed`` subtrees (None: everywhere); everything
    else (structure, mandatory nodes, cardinality, unique, leafrefs) covers the whole
    tree because an edit in one place can break a constraint somewhere else.
    ``deep_modules`` are modules without pyangbind classes: pyang checks their values.
    ``semantic`` False skips mandatory nodes, cardinality, unique and leafrefs (an
    edit of the candidate with test-option ``set``).
    """
    v = Validator(schema, root, typed=typed, deep_modules=deep_modules, semantic=semantic)
    return v.run()
