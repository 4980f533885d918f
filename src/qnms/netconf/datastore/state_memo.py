"""Running merged with the live state's unchanging part, kept between ``<get>`` s.

A ``<get>`` of a node with 20,000 links spent most of its time merging the same state
into the same configuration again (issue 13). A state provider that also implements
``interfaces.StableStateProvider`` returns, from ``stable_state``, elements it hands
out again as the very same objects for as long as their content is unchanged (and
never modifies once handed out). Their merge into a running tree depends only on the
identities of that tree and those elements, so it is done once and kept here; each
read gets a deep copy of it (lxml, in C) with the rest of the state merged in.

Readers run in worker threads: the memo is one tuple, replaced whole, and the trees in
it are never modified after they are stored.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from lxml import etree

from qnms.yang.merge import merge_into
from qnms.yang.schema import Schema

_Key = tuple[etree._Element, ...]


class StateMemo:
    """The merge of a running tree with the elements marked stable, for one manager."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.stable: tuple[etree._Element, ...] = ()  # the provider's stable elements now
        self._memo: tuple[_Key, etree._Element] | None = None

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
            base = copy.deepcopy(running)
            merge_into(self.schema, None, base, state[:n])
            memo = self._memo = (key, base)
        data = copy.deepcopy(memo[1])
        merge_into(self.schema, None, data, state[n:])
        return data


def _same(a: _Key, b: _Key) -> bool:
    """The same objects, in the same order (lxml elements compare by identity here)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
