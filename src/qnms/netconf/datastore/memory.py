"""Giving memory back to the system after a big change (issue 13).

A 20,000-entry edit and its delete free tens of megabytes (the old trees, the request,
the change records), but glibc keeps freed heap memory for reuse, so the agent's RSS
stayed at its peak (214 MB after the delete, 90 MB before the edit). ``malloc_trim``
hands free pages back. It costs a walk of the heap (milliseconds for a few hundred
megabytes), so it runs only after a change of ``TRIM_NODES`` nodes or more, once the
request and the replaced tree are gone (``TRIM_DELAY`` later, on the event loop when
there is one). Elsewhere than glibc it does nothing.

Python's own small objects live in 1 MiB arenas that CPython frees only when every
block in one is free, and ``malloc_trim`` cannot touch them. A big edit fills new
arenas; afterwards each one that still holds a single live block stays resident. What
held them (measured block by block in the agent, issue 13) was, besides data kept by
design (the audit entry, the state memo): up to 2,000 tuples per size in the
interpreter's free lists, cleared only by a full collection, which ``trim`` therefore
runs (off the request path, after big changes only); names of attribute lookups held
by CPython's type cache, which ``trim`` clears; and objects made on first use in that
window and kept for life: this module's ``malloc_trim`` lookup (now done at import)
and the bulk checks' schema tables (now built with the datastores,
``yang/siblings.py`` ``prepare_fresh_entries``). What is left: the audit entry of each
big edit, the objects of the requests since, and the one empty arena CPython keeps.
"""

from __future__ import annotations

import ctypes
import gc
import sys
from collections.abc import Callable, Sequence
from time import monotonic

from qnms.yang.diff import AnyChange

TRIM_NODES = 2000  # data nodes created or removed by one change that make it "big"
TRIM_DELAY = 0.5  # seconds: the reply is sent and the request freed by then
TRIM_BYTES = 1 << 20  # a request and its reply this big (a full <get> of 20k entries) too


def _find_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` from the symbols already loaded in the process
    (``ctypes.util.find_library`` would spawn ldconfig at every start)."""
    try:
        fn = getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None
    if fn is not None:  # declared: else ctypes builds (and keeps) them at the first call
        fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


# Looked up at import, not at the first trim: that runs right after a big change, when
# the new arenas are the only ones with room, and the lookup's objects (a ctypes
# function type, its class dict, the types of its call) would keep one of them for the
# process's life.
_MALLOC_TRIM = _find_malloc_trim()
# A trim scheduled by ``after_message`` runs by then (monotonic seconds; 0: none is
# due). A deadline rather than a flag: if the loop that was to run the trim closes
# first, the next big message after it schedules one again.
_due = 0.0


def trim() -> None:
    """After a big change: clear the interpreter's free lists (a full collection:
    nothing else frees them; ~50 ms of CPU in an agent) and the type cache (it holds the
    names of recent attribute lookups, strongly), then ``trim_heap``."""
    gc.collect()
    sys._clear_type_cache()
    trim_heap()


def freeze_startup() -> None:
    """Keep what a server process built before serving (schemas, bindings, each agent's
    datastores and server) out of every later collection: one full collection, then
    ``gc.freeze``. In one process of 500 agents a full collection walked ~160,000 such
    objects, ~150 ms of the loop every agent shares, and ``trim`` runs one after each
    big change (CPython's own gen-2 collections walk them too); once frozen, ~0 ms
    (measured in a 500-agent process, ``qnms agents``'s start). Frozen objects that
    are later dropped are still freed by reference counting; only a cycle among them
    would stay, and startup happens once."""
    gc.collect()
    gc.freeze()


def trim_heap() -> None:
    """Return the heap's free pages to the system (glibc ``malloc_trim(0)``): after a
    big message, where a full collection after each of repeated big ``<get>`` would
    cost more CPU than they free."""
    global _due
    _due = 0.0
    if _MALLOC_TRIM is not None:  # (no debug log: its logger's first call builds a cache)
        _MALLOC_TRIM(0)


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
    trim serves every big message until it runs, or until it was due."""
    global _due
    now = monotonic()
    if nbytes >= TRIM_BYTES and now >= _due:
        _due = now + TRIM_DELAY
        later(TRIM_DELAY, trim_heap)


def size(changes: Sequence[AnyChange]) -> int:
    """Data nodes in the subtrees ``changes`` created or replaced."""
    return sum(c.size() for c in changes)
