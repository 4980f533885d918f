"""The changes between two data trees (RFC 6241 commit and copy-config, RFC 8072).

Schema-aware: data nodes are matched by tag and, for list and leaf-list entries, by
their identity (``qnms.yang.tree``), so ``diff`` reports a changed leaf as a replace,
a new entry as a create and a reordered user-ordered list as merges. Each ``Change``
is precise enough to replay on binding objects and to publish as a ``ConfigChange``.
The editor also reports many entries of one list created at once as one
``CreatedEntries`` record (issue 13); ``published`` and ``one_by_one`` read both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeGuard, get_args

from lxml import etree

from qnms.yang.changes import ConfigChange
from qnms.yang.schema import Schema, SchemaNode
from qnms.yang.tree import (
    Chain,
    Ident,
    chain_path,
    ident_of,
    quote,
    split_tag,
    step_text,
    value_of,
)

ChangeOp = Literal["create", "delete", "merge", "replace", "remove"]  # as ConfigChange's
_CHANGE_OPS = frozenset(get_args(ChangeOp))


def is_change_op(op: str) -> TypeGuard[ChangeOp]:
    return op in _CHANGE_OPS


@dataclass(slots=True)
class Change:
    """One change to a datastore, precise enough to replay it on binding objects."""

    operation: ChangeOp
    chain: Chain
    path: str
    nsmap: dict[str, str]
    element: etree._Element | None = None  # the node in the new tree (None if gone)
    parent: etree._Element | None = None  # its parent in the new tree
    # created by the editor's fast path (datastore.fresh): made of plain leaves alone
    # (``values.plain_leaves``), each once; validation may check such entries together
    fresh: bool = False
    # a leaf whose value the editor replaced where one stood: no presence, count or
    # case above it changed (validation checks such a change where it can matter)
    in_place: bool = False

    @property
    def node(self) -> SchemaNode:
        return self.chain[-1][0]

    def public(self) -> ConfigChange:
        """The published change; its namespace map is shared, not copied (a 20,000-entry
        edit's audit entry held 40,000 copies), and nobody writes to it."""
        return ConfigChange(self.path, self.operation, self.nsmap)

    def size(self) -> int:
        """Data nodes in the subtree it created or replaced (0 for a removal)."""
        return 0 if self.element is None else sum(1 for _ in self.element.iter())


@dataclass(slots=True, eq=False)
class CreatedEntries:
    """Entries of one list created together under one parent by one edit, as one record
    (issue 13): a 20,000-entry edit made 20,000 ``Change`` objects, their chains and
    paths, and every reader (validation, the leafref checks, the published changes)
    looped over them. Each entry stands for a ``Change`` "create" made by the editor's
    fast path (``fresh``: plain leaves alone, each once); ``one_by_one`` makes those for
    the readers that want them (binding objects). Made by ``datastore.bulk``."""

    node: SchemaNode  # the list
    head: Chain  # the chain of the parent (empty at the top)
    path: str  # the parent's instance path ("" at the top)
    nsmap: dict[str, str]  # the namespaces of the entries' paths (shared, read-only)
    parent: etree._Element  # the parent in the new tree
    entries: list[etree._Element]  # the new entries, in edit order
    idents: list[tuple[str, ...]]  # their key values (plain text), in the same order
    # plain leaf tag -> the values of that leaf, in entry order (an entry without the
    # leaf has none): what validation checks instead of reading the entries again
    texts: dict[str, list[str]]
    nodes: int  # data nodes in the entries
    # the edit went on to touch this list under this parent (merge into an entry, delete
    # one, replace the parent): ``texts`` may no longer be what the entries hold
    stale: bool = False
    operation: ChangeOp = "create"

    def size(self) -> int:
        return self.nodes

    def targets(self, schema: Schema) -> list[str]:
        """Each entry's instance path, as ``chain_path`` gives it."""
        node, head = self.node, f"{self.path}/"
        if len(node.keys) == 1:  # the usual list: one step head, then each value quoted
            step = f"{head}{node.qname}[{node.prefix}:{node.keys[0]}="
            return [
                f"{step}'{v}']" if "'" not in v else f"{step}{quote(v)}]" for (v,) in self.idents
            ]
        return [head + step_text(schema, node, i) for i in self.idents]

    def one_by_one(self, schema: Schema) -> list[Change]:
        node, parent, nsmap = self.node, self.parent, self.nsmap
        return [
            Change("create", (*self.head, (node, ident)), path, nsmap, el, parent, True)
            for ident, el, path in zip(self.idents, self.entries, self.targets(schema), strict=True)
        ]


AnyChange = Change | CreatedEntries


def published(schema: Schema, changes: Sequence[AnyChange]) -> list[ConfigChange]:
    """The published changes (RFC 6470), one per changed node, in edit order."""
    out: list[ConfigChange] = []
    for c in changes:
        if isinstance(c, CreatedEntries):
            nsmap = c.nsmap
            out += [ConfigChange(t, "create", nsmap) for t in c.targets(schema)]
        else:
            out.append(c.public())
    return out


def one_by_one(schema: Schema, changes: Sequence[AnyChange]) -> list[Change]:
    """``changes`` with every ``CreatedEntries`` made into a ``Change`` per entry."""
    out: list[Change] = []
    for c in changes:
        if isinstance(c, CreatedEntries):
            out += c.one_by_one(schema)
        else:
            out.append(c)
    return out


def make_change(
    schema: Schema,
    op: str,
    chain: Chain,
    element: etree._Element | None,
    parent: etree._Element | None,
    heads: dict[Chain, tuple[str, dict[str, str]]] | None = None,
    fresh: bool = False,
    in_place: bool = False,
) -> Change:
    """``heads``: a cache of parent paths for ``chain_path``, shared by one edit."""
    if not is_change_op(op):  # "none" changes nothing: never recorded
        raise ValueError(f"not a change operation: {op!r}")
    path, nsmap = chain_path(schema, chain, heads)
    return Change(op, chain, path, nsmap, element, parent, fresh, in_place)


def same_content(a: etree._Element, b: etree._Element) -> bool:
    return etree.tostring(a, method="c14n") == etree.tostring(b, method="c14n")


def leaf_equal(node: SchemaNode, a: etree._Element, b: etree._Element) -> bool:
    if node.keyword in ("anydata", "anyxml"):
        return same_content(a, b)
    return value_of(node, a) == value_of(node, b)


def _children_by_ident(
    schema: Schema, parent: SchemaNode | None, el: etree._Element
) -> dict[tuple[str, Ident], tuple[SchemaNode, etree._Element]]:
    out: dict[tuple[str, Ident], tuple[SchemaNode, etree._Element]] = {}
    for c in el:
        if not isinstance(c.tag, str):
            continue
        node = schema.child(parent, split_tag(c.tag))
        if node is None:
            continue
        try:
            ident = ident_of(node, c)
        except LookupError:
            continue
        out.setdefault((node.tag, ident), (node, c))
    return out


def diff(schema: Schema, old: etree._Element, new: etree._Element) -> list[Change]:
    """The changes that turn data tree ``old`` into ``new`` (for commit, copy-config)."""
    out: list[Change] = []
    _diff(schema, None, old, new, (), out)
    return out


def _diff(schema, parent, old, new, chain, out) -> None:
    olds = _children_by_ident(schema, parent, old)
    news = _children_by_ident(schema, parent, new)
    for key, (node, _old) in olds.items():
        if key not in news:
            out.append(make_change(schema, "delete", (*chain, (node, key[1])), None, new))
    moved: dict[str, list] = {}
    for key, (node, n) in news.items():
        sub = (*chain, (node, key[1]))
        hit = olds.get(key)
        if hit is None:
            out.append(make_change(schema, "create", sub, n, new))
        elif node.keyword in ("leaf", "anydata", "anyxml"):
            if not leaf_equal(node, hit[1], n):
                out.append(make_change(schema, "replace", sub, n, new))
        elif node.keyword in ("container", "list"):
            _diff(schema, node, hit[1], n, sub, out)
        if node.user_ordered and hit is not None:
            moved.setdefault(node.tag, []).append(key)
    for tag, keys in moved.items():
        old_order = [k for k in olds if k[0] == tag and k in news]
        if old_order != keys:
            node = news[keys[0]][0]
            for k in keys:
                out.append(make_change(schema, "merge", (*chain, (node, k[1])), news[k][1], new))
