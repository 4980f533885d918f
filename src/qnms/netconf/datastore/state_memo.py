"""Running merged with the live state's unchanging part, kept between ``<get>`` s.

A ``<get>`` of a node with 20,000 links spent most of its time merging the same state
into the same configuration again (issue 13). A state provider that also implements
``interfaces.StableStateProvider`` returns, from ``stable_state``, elements it hands
out again as the very same objects for as long as their content is unchanged (and
never modifies once handed out). Their merge into a running tree depends only on the
identities of that tree and those elements, so it is done once and kept here; each
read gets a copy of it with the rest of the state merged in.

The merge is kept serialised, and each read parses it: with 20,000 links the tree was
45 MB held for as long as running did not change (one more full tree in the agent's
peak: 267 -> 193 MB), its text is 5 MB. The price is time: a full ``<get>`` of those
links takes ~50 ms more (get and serialisation 184 -> 237 ms, medians side by side on a
quiet machine; issue 13).

Readers run in worker threads: the memo is one tuple, replaced whole, and never
modified after it is stored.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from lxml import etree

from qnms.yang.merge import merge_into
from qnms.yang.schema import Schema
from qnms.yang.tree import parse_own

_Key = tuple[etree._Element, ...]


class StateMemo:
    """The merge of a running tree with the elements marked stable, for one manager."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.stable: tuple[etree._Element, ...] = ()  # the provider's stable elements now
        self._memo: tuple[_Key, bytes] | None = None  # (what it was made of, the merge)

    def forget(self) -> None:
        """Drop the kept merge and the stable elements it was made with (running was
        replaced: they would only hold memory). The elements too: a 20,000-link state
        element, referenced only from here, outlived the delete of its links until the
        next ``<get>`` (issue 13)."""
        self._memo = None
        self.stable = ()

    def merged(self, running: etree._Element, state: Sequence[etree._Element]) -> etree._Element:
        """A private tree: ``running`` with ``state`` merged in, in that order.

        The leading elements of ``state`` that are among ``stable`` are merged once per
        (running, elements) and reused; the others are merged into the copy each time.
        """
        stable = self.stable
        n = 0
        while n < len(state) and any(state[n] is s for s in stable):
            n += 1
        if n == 0:
            data = copy.deepcopy(running)
            merge_into(self.schema, None, data, state)
            return data
        key = (running, *state[:n])
        memo = self._memo
        if memo is None or not _same(memo[0], key):
            data = copy.deepcopy(running)
            merge_into(self.schema, None, data, state[:n])
            self._memo = (key, etree.tostring(data))  # before the rest is merged in
        else:
            data = parse_own(memo[1])
        merge_into(self.schema, None, data, state[n:])
        return data


def _same(a: _Key, b: _Key) -> bool:
    """The same objects, in the same order (lxml elements compare by identity here)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
