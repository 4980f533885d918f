"""Global datastore locks (RFC 6241 7.5, 7.6), one holder per datastore.

The rules live here; whether the candidate has uncommitted changes (which also
refuses its lock) is the datastore's knowledge and is passed in. The table is
thread-safe on its own (a short mutex), so taking or reading a lock never waits for a
long edit that holds the datastore's writer lock in a worker (issue 9).
"""

from __future__ import annotations

import threading

from qnms.yang.errors import ErrorTag, ErrorType, RpcError

_P = ErrorType.PROTOCOL


class LockTable:
    def __init__(self) -> None:
        self._holders: dict[str, int] = {}
        self._mutex = threading.Lock()

    def check(self, name: str, session_id: int) -> None:
        """Writes by anyone but the holder fail with in-use."""
        with self._mutex:
            holder = self._holders.get(name)
            if holder is not None and holder != session_id:
                raise RpcError(
                    ErrorTag.IN_USE, f"the {name} datastore is locked by session {holder}", _P
                )

    def lock(self, name: str, session_id: int, *, modified: bool = False) -> None:
        with self._mutex:
            holder = self._holders.get(name)
            if holder is not None:
                raise RpcError(
                    ErrorTag.LOCK_DENIED,
                    f"the {name} datastore is already locked by session {holder}",
                    _P,
                    info=[("session-id", str(holder))],
                )
            if modified:  # session-id 0: not held by a session, refused all the same
                raise RpcError(
                    ErrorTag.LOCK_DENIED,
                    f"the {name} datastore has uncommitted changes",
                    _P,
                    info=[("session-id", "0")],
                )
            self._holders[name] = session_id

    def unlock(self, name: str, session_id: int) -> None:
        with self._mutex:
            holder = self._holders.get(name)
            if holder != session_id:
                why = "is not locked" if holder is None else f"is locked by session {holder}"
                raise RpcError(ErrorTag.OPERATION_FAILED, f"the {name} datastore {why}", _P)
            del self._holders[name]

    def release(self, session_id: int) -> list[str]:
        """Drop every lock of a session; return the datastores it held."""
        with self._mutex:
            names = [n for n, h in self._holders.items() if h == session_id]
            for n in names:
                del self._holders[n]
            return names

    def holders(self) -> dict[str, int]:
        with self._mutex:
            return dict(self._holders)
