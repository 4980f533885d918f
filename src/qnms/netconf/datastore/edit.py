"""edit-config semantics (RFC 6241 section 7.2, RFC 7950 sections 7.7.9 and 7.8.6).

``apply_edit`` changes a data tree in place, so the caller edits a copy and keeps the
original until validation has passed: that is what makes stop-on-error and
rollback-on-error all-or-nothing at no extra cost. It reports each change at the
highest node that changed (a created list entry is one "create", not one per leaf),
which is both what RFC 6470 notifications want and the minimal set of subtrees to
re-decode into the binding objects.
"""

from __future__ import annotations

from lxml import etree

from qnms.netconf.datastore.bulk import MIN_RUN, Run
from qnms.netconf.datastore.fresh import Shape, fresh_element, shape_of
from qnms.netconf.datastore.leaves import leaf_element
from qnms.netconf.datastore.ordering import INSERT_ATTR, place
from qnms.yang.diff import AnyChange, CreatedEntries, leaf_equal, make_change
from qnms.yang.errors import NC_NS, ErrorTag, ErrorType, RpcError
from qnms.yang.schema import Schema, SchemaNode
from qnms.yang.tree import (
    Chain,
    ChildIndex,
    chain_path,
    ident_of,
    split_tag,
)

OP_ATTR = f"{{{NC_NS}}}operation"
OPERATIONS = frozenset({"merge", "replace", "create", "delete", "remove"})
CREATING = frozenset({"merge", "replace", "create"})
LEAFY = frozenset({"leaf", "anydata", "anyxml"})


def apply_edit(
    schema: Schema,
    root: etree._Element,
    config: etree._Element,
    *,
    default_operation: str = "merge",
    continue_on_error: bool = False,
    adopt: bool = False,
) -> tuple[list[AnyChange], list[RpcError]]:
    """Apply the children of ``config`` to the data tree ``root`` (modified in place).

    Without ``continue_on_error`` the first error is raised and ``root`` is left
    half-edited (discard it). With it, a failing node is skipped, its siblings are
    still applied, and the errors are returned with the changes. ``adopt``: ``config``
    is the editor's to consume (parsed for this edit alone): created entries may be
    moved out of it into ``root`` rather than copied (``fresh``, ``bulk``). New sibling
    entries of one list are reported together, as one ``CreatedEntries``.
    """
    if default_operation not in ("merge", "replace", "none"):
        raise RpcError(
            ErrorTag.INVALID_VALUE,
            f"bad default-operation {default_operation!r}",
            ErrorType.PROTOCOL,
            info=[("bad-element", "default-operation")],
        )
    ed = _Editor(schema, continue_on_error, adopt)
    if default_operation == "replace":
        ed.replace_children(root, None, config, ())
    else:
        ed.children(root, None, config, default_operation, ())
    return ed.changes, ed.errors


def _error(tag: ErrorTag, msg: str, path: tuple[str, dict[str, str]] | None, **kw) -> RpcError:
    p, ns = path if path is not None else (None, {})
    return RpcError(tag, msg, path=p, path_ns=ns, **kw)


class _Editor:
    def __init__(self, schema: Schema, keep_going: bool, adopt: bool = False) -> None:
        self.schema = schema
        self.keep_going = keep_going
        self.adopt = adopt
        self.changes: list[AnyChange] = []
        self.errors: list[RpcError] = []
        self.runs: dict[etree._Element, list[CreatedEntries]] = {}  # by their parent
        self.quiet = 0  # >0 inside a node whose own change is recorded as a whole
        self._shapes: dict[int, Shape] = {}  # id(schema node) -> its fresh entries' shape
        self.heads: dict[Chain, tuple[str, dict[str, str]]] = {}  # see chain_path

    # ------------------------------------------------------------------ helpers

    def path(self, chain: Chain, extra: str | None = None, ns: str = ""):
        p, nsmap = chain_path(self.schema, chain) if chain else ("", {})
        if extra is not None:
            p += "/" + extra
            prefix = extra.partition(":")[0]
            if ns and prefix:
                nsmap = {**nsmap, prefix: ns}
        return (p or "/"), nsmap

    def record(self, op: str, chain: Chain, el, parent, fresh=False, in_place=False) -> None:
        if not self.quiet:
            change = make_change(self.schema, op, chain, el, parent, self.heads, fresh, in_place)
            self.changes.append(change)

    def leaf_element(self, node: SchemaNode, e: etree._Element, chain: Chain):
        return leaf_element(self.schema, node, e, lambda: self.path(chain))

    # ---------------------------------------------------------------- traversal

    def children(self, data, parent: SchemaNode | None, edit, op: str, chain: Chain) -> None:
        index = ChildIndex(data)
        cases: dict[str, str] = {}
        self.touched(data, None)  # entries created under it before may change now
        run = None
        if op in CREATING and not self.quiet and len(edit) >= MIN_RUN:
            run = Run(self.schema, data, parent, chain, index, adopt=self.adopt, heads=self.heads)
        misses = 0  # entries in a row no run took
        for e in edit:
            if not isinstance(e.tag, str):
                continue  # a comment or processing instruction: not data
            if run is not None:
                if run.take(e):
                    misses = 0
                    continue
                if run.taken:
                    self.settle(run, data, parent, op, chain, index, cases)
                    if run.take(e):
                        misses = 0
                        continue
                misses += 1
                if misses >= 4 * MIN_RUN:  # entries unlike a run's (a bulk delete): stop asking
                    run = None
            if self.runs:
                self.touched(data, e.tag)
            self.each(data, parent, e, op, chain, index, cases)
        if run is not None and run.taken:
            self.settle(run, data, parent, op, chain, index, cases)

    def each(self, data, parent, e, op: str, chain: Chain, index: ChildIndex, cases) -> None:
        try:
            self.one(data, parent, e, op, chain, index, cases)
        except RpcError as err:
            if not self.keep_going:
                raise
            self.errors.append(err)

    def settle(self, run: Run, data, parent, op: str, chain: Chain, index, cases) -> None:
        """Place and report the entries ``run`` took, or take them the usual way."""
        made = run.flush()
        if isinstance(made, CreatedEntries):
            self.changes.append(made)
            self.runs.setdefault(data, []).append(made)
            return
        for e in made:
            self.each(data, parent, e, op, chain, index, cases)

    def touched(self, data, tag: str | None) -> None:
        """The edit changes ``data``'s children of ``tag`` (None: any) the usual way:
        entries created under it together may change, so what was read of them stands
        no longer (``CreatedEntries.stale``)."""
        for made in self.runs.get(data, ()):
            if tag is None or made.node.tag == tag:
                made.stale = True

    def replace_children(self, data, parent: SchemaNode | None, edit, chain: Chain) -> None:
        """Delete children of ``data`` not mentioned in ``edit``, then replace the rest."""
        mentioned = set()
        for e in edit:
            if not isinstance(e.tag, str):
                continue
            node = self.schema.child(parent, split_tag(e.tag))
            if node is not None:
                try:
                    mentioned.add((node.tag, ident_of(node, e)))
                except LookupError:
                    mentioned.add((node.tag, "?"))
        keys = parent.keys if parent is not None and parent.keyword == "list" else ()
        for c in list(data):
            if not isinstance(c.tag, str):
                continue
            node = self.schema.child(parent, split_tag(c.tag))
            # keys is empty unless parent is a list
            if node is None or (parent is not None and node.name in keys and node.ns == parent.ns):
                continue
            try:
                ident = ident_of(node, c)
            except LookupError:
                ident = None
            if (node.tag, ident) not in mentioned:
                data.remove(c)
                self.record("delete", (*chain, (node, ident)), None, data)
        self.children(data, parent, edit, "replace", chain)

    def one(self, data, parent, e, op, chain, index: ChildIndex, cases) -> None:
        key = split_tag(e.tag)
        node = self.schema.child(parent, key)
        if node is None:
            raise self.unknown(key, chain)
        if parent is not None and node.name in parent.keys and node.ns == parent.ns:
            return  # keys only identify the entry; they were matched already
        own = e.get(OP_ATTR)
        if own is not None and own not in OPERATIONS:
            raise _error(
                ErrorTag.BAD_ATTRIBUTE,
                f"bad operation {own!r} on {node.name}",
                self.path(chain, node.qname, node.ns),
                info=[("bad-attribute", "operation"), ("bad-element", node.name)],
            )
        eff = own or op
        if not node.config:
            raise _error(
                ErrorTag.INVALID_VALUE,
                f"{node.name} is config false and cannot be edited",
                self.path(chain, node.qname, node.ns),
                info=[("bad-element", node.name)],
            )
        try:
            ident = ident_of(node, e)
        except LookupError as missing:
            raise _error(
                ErrorTag.MISSING_ELEMENT,
                f"list entry {node.name} lacks its key {missing.args[0]}",
                self.path(chain, node.qname, node.ns),
                info=[("bad-element", missing.args[0])],
            ) from None
        sub = (*chain, (node, ident))
        if node.cases and eff not in ("delete", "remove"):
            for cid, case in node.cases:
                seen = cases.setdefault(cid, case)
                if seen != case:
                    raise _error(
                        ErrorTag.BAD_ELEMENT,
                        f"{node.name} (case {case}) conflicts with case {seen} "
                        f"of the same choice in this edit",
                        self.path(sub),
                        info=[("bad-element", node.name)],
                    )
        if node.keyword in ("list", "leaf-list"):
            existing = index.get(node, ident)
        else:
            existing = data.find(node.tag)
        self.apply(data, node, e, eff, existing, sub, index)

    def unknown(self, key, chain: Chain) -> RpcError:
        ns, name = key
        prefix = self.schema.prefixes.get(ns)
        if prefix is None:
            return _error(
                ErrorTag.UNKNOWN_NAMESPACE,
                f"element {name} is in unknown namespace {ns!r}",
                self.path(chain) if chain else None,
                info=[("bad-element", name), ("bad-namespace", ns)],
            )
        return _error(
            ErrorTag.UNKNOWN_ELEMENT,
            f"unknown element {prefix}:{name}",
            self.path(chain, f"{prefix}:{name}", ns),
            info=[("bad-element", name)],
        )

    # --------------------------------------------------------------- operations

    def apply(self, data, node: SchemaNode, e, eff: str, d, chain: Chain, index) -> None:
        kind = node.keyword
        ident = chain[-1][1]
        if eff in ("delete", "remove"):
            if d is None:
                if eff == "delete":
                    raise _error(
                        ErrorTag.DATA_MISSING,
                        f"cannot delete {node.name}: it does not exist",
                        self.path(chain),
                    )
                return
            data.remove(d)
            index.discard(node, ident)
            self.record(eff, chain, None, data)
            return
        if eff == "create" and d is not None:
            raise _error(
                ErrorTag.DATA_EXISTS, f"cannot create {node.name}: it exists", self.path(chain)
            )
        if d is None:
            if eff == "none":
                if kind in ("container", "list") and _creates_below(e):
                    self.create(data, node, e, "none", chain, index)
                    return
                raise _error(
                    ErrorTag.DATA_MISSING,
                    f"{node.name} does not exist (default-operation none)",
                    self.path(chain),
                )
            self.create(data, node, e, eff, chain, index)
            return
        if kind in LEAFY:
            if eff == "none":
                return
            new = self.leaf_element(node, e, chain)
            if not leaf_equal(node, d, new):
                data.replace(d, new)
                self.record(eff, chain, new, data, in_place=True)
            return
        moved = False
        if node.is_list_like and eff != "none" and e.get(INSERT_ATTR) is not None:
            moved = place(self.schema, data, node, e, d, chain, index, moving=True)
        if kind == "leaf-list":
            if moved:
                self.record("merge", chain, d, data)
            return
        if eff == "replace":
            before = etree.tostring(d, method="c14n")
            self.quiet += 1
            try:
                self.replace_children(d, node, e, chain)
            finally:
                self.quiet -= 1
            if kind == "container" and not node.presence and len(d) == 0:
                data.remove(d)  # replaced by nothing: an empty container is no container
                self.record("delete", chain, None, data)
            elif moved or etree.tostring(d, method="c14n") != before:
                self.record("replace", chain, d, data)
            return
        if moved:
            self.record("merge", chain, d, data)
            self.quiet += 1
        try:
            self.children(d, node, e, eff, chain)
        finally:
            if moved:
                self.quiet -= 1
        if kind == "container" and not node.presence and len(d) == 0:
            data.remove(d)  # an empty non-presence container carries no information
            for c in self.changes:
                if c.parent is d:
                    c.parent = data  # keep every change's parent inside the tree

    def create(self, data, node: SchemaNode, e, eff: str, chain: Chain, index) -> None:
        kind = node.keyword
        fresh = None
        if kind in LEAFY or kind == "leaf-list":
            new = self.leaf_element(node, e, chain)
        else:
            if eff != "none":
                shape = self._shapes.get(id(node))
                if shape is None:
                    shape = self._shapes[id(node)] = shape_of(node)
                fresh = fresh_element(node, e, shape, adopt=self.adopt)
            new = fresh if fresh is not None else self.general(node, e, eff, chain)
            if kind == "container" and not node.presence and len(new) == 0:
                return
            if eff == "none" and len(new) == len(node.keys):
                return  # nothing below was actually created
        place(self.schema, data, node, e, new, chain, index, moving=False)
        self.drop_other_cases(data, node, chain[:-1], index)
        self.record("create", chain, new, data, fresh=new is fresh)

    def general(self, node: SchemaNode, e, eff: str, chain: Chain):
        """A new list entry or container built child by child (``fresh`` declined)."""
        new = etree.Element(node.tag, nsmap={None: node.ns})
        for k in node.keys:
            kel = e.find(f"{{{node.ns}}}{k}")
            new.append(self.leaf_element(node.children[(node.ns, k)], kel, chain))
        self.quiet += 1
        try:
            self.children(new, node, e, "merge" if eff == "create" else eff, chain)
        finally:
            self.quiet -= 1
        return new

    def drop_other_cases(self, data, node: SchemaNode, chain: Chain, index) -> None:
        """Creating a node of one case deletes the nodes of the other cases (7.9.6)."""
        if not node.cases:
            return
        mine = dict(node.cases)
        parent = chain[-1][0] if chain else None
        for c in list(data):
            if not isinstance(c.tag, str):
                continue
            other = self.schema.child(parent, split_tag(c.tag))
            if other is None or not other.cases:
                continue
            if any(cid in mine and mine[cid] != case for cid, case in other.cases):
                data.remove(c)
                try:
                    ident = ident_of(other, c)
                except LookupError:
                    ident = None
                index.discard(other, ident)
                self.record("delete", (*chain, (other, ident)), None, data)


def _creates_below(e) -> bool:
    return any(d.get(OP_ATTR) in CREATING for d in e.iterdescendants())
