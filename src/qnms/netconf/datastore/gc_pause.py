"""No cyclic garbage collection while an edit runs (issue 13).

A 20,000-entry edit-config allocates a few hundred thousand tracked objects (lxml
proxies, change records, their tuples and dicts) that mostly live until it ends. Each
700 allocations start a generation-0 collection that scans what is new, every tenth
of those a generation-1 one, and some a full collection over the whole heap of the
process (every agent's schema and trees): ~230 collections and a tenth of the edit's
CPU, to find next to no garbage. Collection is paused for the edit and resumes after
it (the next allocation then collects as usual); an edit makes no cycles that matter
in the meantime. The pause is counted, so edits of several datastores in threads of
one process (the agents' host) resume it only when the last one ends, and a process
that disabled collection itself keeps it disabled.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_paused = 0  # edits running with collection paused
_resume = False  # collection was enabled when the first of them began


def _pause() -> None:
    global _paused, _resume
    with _lock:
        if _paused == 0:
            _resume = gc.isenabled()
            gc.disable()
        _paused += 1


def _unpause() -> None:
    global _paused
    with _lock:
        _paused -= 1
        if _paused == 0 and _resume:
            gc.enable()


@contextmanager
def paused() -> Iterator[None]:
    _pause()
    try:
        yield
    finally:
        _unpause()


def without_gc[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with collection paused while it runs (see the module's docstring); a
    plain try/finally, not ``paused()``: a generator per small edit (issue 13)."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        _pause()
        try:
            return fn(*args, **kwargs)
        finally:
            _unpause()

    return run
