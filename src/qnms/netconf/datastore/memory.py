"""Giving memory back to the system after a big change (issue 13).

A 20,000-entry edit and its delete free tens of megabytes (the old trees, the request,
the change records), but glibc keeps freed heap memory for reuse, so the agent's RSS
stayed at its peak (214 MB after the delete, 90 MB before the edit). ``malloc_trim``
hands free pages back. It costs a walk of the heap (milliseconds for a few hundred
megabytes), so it runs only after a change of ``TRIM_NODES`` nodes or more, once the
request and the replaced tree are gone (``TRIM_DELAY`` later, on the event loop when
there is one). Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from collections.abc import Callable, Sequence

from qnms.yang.diff import AnyChange

log = logging.getLogger(__name__)

TRIM_NODES = 2000  # data nodes created or removed by one change that make it "big"
TRIM_DELAY = 0.5  # seconds: the reply is sent and the request freed by then
TRIM_BYTES = 1 << 20  # a request and its reply this big (a full <get> of 20k entries) too
_pending = False  # a trim is scheduled: messages in a burst share it


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` from the symbols already loaded in the process (looked up
    on first use: ``ctypes.util.find_library`` would spawn ldconfig at every start)."""
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None


def trim() -> None:
    """Return the heap's free pages to the system (glibc ``malloc_trim(0)``)."""
    global _pending
    _pending = False
    malloc_trim = _malloc_trim()
    if malloc_trim is not None:
        malloc_trim(0)
        log.debug("malloc_trim after a big change")


def after_change(
    later: Callable[[float, Callable[[], None]], None], changes: Sequence[AnyChange]
) -> None:
    """Schedule a ``trim`` (through ``later(delay, fn)``) when ``changes`` were big: many
    entries, or created subtrees of ``TRIM_NODES`` nodes. (A delete of one container
    holding many entries counts as one change: not detected, it would need the size of
    what was removed.)"""
    if len(changes) >= TRIM_NODES or size(changes) >= TRIM_NODES:
        later(TRIM_DELAY, trim)


def after_message(later: Callable[[float, Callable[[], None]], object], nbytes: int) -> None:
    """Schedule a ``trim`` after a request and reply of ``nbytes`` or more: a full
    ``<get>`` of 20,000 links builds and frees a hundred megabytes of trees and text,
    and after one the agent's RSS stayed 100 MB above what it held (issue 13). One
    trim serves every big message until it runs."""
    global _pending
    if nbytes >= TRIM_BYTES and not _pending:
        _pending = True
        later(TRIM_DELAY, trim)


def size(changes: Sequence[AnyChange]) -> int:
    """Data nodes in the subtrees ``changes`` created or replaced."""
    return sum(c.size() for c in changes)
