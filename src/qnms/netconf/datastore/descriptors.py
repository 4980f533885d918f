"""File descriptors kept open between appends, a bounded number per process (issue 13).

The journal of running and the audit log are appended to on every edit. Opening and
closing each by name per append was four system calls and two path lookups of a small
edit (~10-20 us quiet, ~50 us under load). Keeping every file open is not an option
either: hundreds of agents share one process (``qnms agents``), each with its own
files. So a process keeps at most ``LIMIT`` descriptors open, the most recently used;
the rest are closed and opened again when next needed.

A kept descriptor is only reused while its file still has a name (``st_nlink``): a
file removed meanwhile (its directory cleared, a log rotated away) is opened again by
name, as before, instead of being written where nobody will read it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable

LIMIT = 64


class KeptFiles:
    """Open descriptors by owner (a file's path: nothing of the writer is held),
    least recently used first."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._fds: OrderedDict[Hashable, int] = OrderedDict()
        self._lock = threading.Lock()  # agents' edits may run in writer threads

    def take(self, owner: Hashable) -> int | None:
        """``owner``'s kept descriptor (now the caller's), if its file still has a name."""
        with self._lock:
            fd = self._fds.pop(owner, None)
        if fd is None:
            return None
        try:
            if os.fstat(fd).st_nlink > 0:
                return fd
        except OSError:
            pass
        _close(fd)
        return None

    def put(self, owner: Hashable, fd: int) -> None:
        """Keep ``fd`` (``owner``'s) open; the least recently used beyond the limit close."""
        with self._lock:
            old = self._fds.pop(owner, None)
            self._fds[owner] = fd
            evicted = []
            while len(self._fds) > self.limit:
                evicted.append(self._fds.popitem(last=False)[1])
        for other in ([old] if old is not None and old != fd else []) + evicted:
            _close(other)

    def drop(self, owner: Hashable) -> None:
        """Close ``owner``'s kept descriptor, if any (its file is going away)."""
        with self._lock:
            fd = self._fds.pop(owner, None)
        if fd is not None:
            _close(fd)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


KEPT = KeptFiles()
"""The process's kept descriptors (journals and audit logs)."""
