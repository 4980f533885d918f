"""Many new entries of one list in one edit, created together (issue 13).

The editor took a 20,000-entry edit-config entry by entry: the operation, config and
case checks, the identity, the lookup, the placing and a ``Change`` with its chain and
path, ~25 us an entry, and every reader of the changes then looped over 20,000 of them.
Most entries of a big edit are alike: sibling entries of one list, new, of plain leaves
in the stored form (``fresh.stored_form``). For such an entry none of those steps can
find anything to refuse or to do differently: no attribute (so no operation or insert),
a config list outside any choice, keys present, nothing there yet. ``Run`` gathers
consecutive ones, reading each entry once (its form, its leaves' values, its key), and
places them together after the list's last entry, reported as one ``CreatedEntries``
that carries the values for validation. The first entry that does not fit ends the
run; the editor takes that one the usual way and a new run may start after it, so the
order of the entries and of the changes is the edit's.
"""

from __future__ import annotations

from lxml import etree

from qnms.netconf.datastore.fresh import Shape, shape_of, stored_entry, stored_form
from qnms.netconf.datastore.ordering import append_after_peers
from qnms.yang.diff import CreatedEntries
from qnms.yang.schema import Schema, SchemaNode
from qnms.yang.tree import Chain, ChildIndex, Ident, path_below, split_tag

MIN_RUN = 2  # entries from which a run is placed together (fewer: the usual way)
Heads = dict[Chain, tuple[str, dict[str, str]]]


class Run:
    """The bulk path of one parent's children in one edit (``_Editor.children``):
    ``take`` each child; when it refuses one, ``flush`` what it took, then the editor
    deals with that child itself."""

    def __init__(
        self,
        schema: Schema,
        data: etree._Element,
        parent: SchemaNode | None,
        chain: Chain,
        index: ChildIndex,
        *,
        adopt: bool,
        heads: Heads,
    ) -> None:
        self.schema = schema
        self.data = data
        self.parent = parent
        self.chain = chain
        self.index = index
        self.adopt = adopt
        self.heads = heads
        self.lists: dict[str, tuple[SchemaNode, Shape] | None] = {}  # tag -> see _list
        self._reset()

    def _reset(self) -> None:
        self.tag = ""  # of the entries taken, "" before the first
        self.taken: list[etree._Element] = []
        self.idents: list[tuple[str, ...]] = []
        self.pending: set[tuple[str, ...]] = set()
        self.texts: dict[str, list[str]] = {}
        self.nodes = 0

    def _list(self, tag: str) -> tuple[SchemaNode, Shape] | None:
        """The list ``tag`` names under the parent and its entries' shape, if its
        entries can be taken: a config list with keys, outside any choice, whose keys
        are plain leaves (``values.plain_leaves``)."""
        if tag in self.lists:
            return self.lists[tag]
        node = self.schema.child(self.parent, split_tag(tag))
        fit = None
        if node is not None and node.keyword == "list" and node.keys and node.config:
            shape = shape_of(node)
            if not node.cases and all(k in shape.leaves for k in shape.keys):
                fit = (node, shape)
        self.lists[tag] = fit
        return fit

    def take(self, e: etree._Element) -> bool:
        """Whether ``e`` joins the run: a new entry, in the stored form, of the run's list
        (or of a list that can start one, when the run is empty)."""
        tag = e.tag
        if tag != self.tag:
            if self.taken or not isinstance(tag, str):
                return False
            fit = self._list(tag)
            if fit is None:
                return False
            self.tag = tag
            self.node, self.shape = fit
            self.known: dict[Ident, etree._Element] = self.index.entries(self.node)
            self.texts = {leaf: [] for leaf in self.shape.leaves}
            self.keys = [self.texts[k] for k in self.shape.keys]
        texts = self.texts
        n = stored_form(e, self.shape, texts)
        if not n:
            return False
        ident = tuple([values[-1] for values in self.keys])
        if ident in self.known or ident in self.pending:
            for c in e:  # there already, or twice in the edit: the usual way (merge)
                texts[str(c.tag)].pop()
            return False
        self.pending.add(ident)
        self.idents.append(ident)
        self.taken.append(e)
        self.nodes += n
        return True

    def flush(self) -> CreatedEntries | list[etree._Element]:
        """Place what was taken and report it as one record; or, fewer than ``MIN_RUN``
        entries, give them back for the usual way, in order."""
        taken, idents = self.taken, self.idents
        made: CreatedEntries | list[etree._Element] = taken
        if len(taken) >= MIN_RUN:
            entries = self._place(taken)
            self.known.update(zip(idents, entries, strict=True))
            path, nsmap = path_below(self.schema, self.chain, self.node, self.heads)
            made = CreatedEntries(
                self.node, self.chain, path, nsmap, self.data, entries, idents,
                self.texts, self.nodes,
            )  # fmt: skip
        self._reset()
        return made

    def _place(self, taken: list[etree._Element]) -> list[etree._Element]:
        """The entries in the tree after the list's last entry, in order: moved out of
        the request (``adopt``: it is the edit's to consume) or copied (in C)."""
        entries = [stored_entry(e, self.adopt) for e in taken]
        first, rest = entries[0], entries[1:]
        append_after_peers(self.data, self.node, first)
        if self.data[-1] is first:
            self.data.extend(rest)
        else:
            for e in rest:
                first.addnext(e)
                first = e
        return entries
