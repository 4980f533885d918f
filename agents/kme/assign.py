"""The KME-to-KME assignment channel: which keys of a shared store the master's KME gave out.

ETSI GS QKD 014 hands a key to the master SAE (``enc_keys``) and later to the slave
SAE (``dec_keys``) at another KME. The master's KME allocates the key locally, at once,
from the end-to-end store both KMEs share (pool.py); the slave's KME only has to learn
the key ID, the segments of the store it uses, the master and the named slaves. That
message is off the request path:

* assignments queue per destination KME and leave in one ``/kme/v1/assign`` message per
  linger (``ASSIGN_LINGER``), retried until acknowledged: a busy KME sends few, large
  messages instead of one per key request (the HTTPS round trip costs more than the
  request it would follow);
* the message is grouped by (master, slaves, unit), each key a flat list
  ``[key_ID, chunk, start, end, ...]``: the IDs and segments only, small to encode and
  to take; the slave's KME keeps the entries as they came and reads the segments only
  when a slave asks for that key;
* a slave asking ``dec_keys`` for a key its KME has not heard of yet (right after the
  master got it) makes its KME ask the master's KME to send now (``/kme/v1/flush``), then
  waits for the assignment (at most ``ASSIGN_WAIT``): the linger delays nobody.

A key ID already handed to a slave (``gone``) is never taken again, so a repeated or
late message cannot resurrect a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from qnms_agents.kme.pool import Assignment, Segment
from qnms_agents.kme.wire import KmeError

log = logging.getLogger(__name__)

ASSIGN_WAIT = 2.0  # s a dec_keys waits for an assignment still on its way
ASSIGN_LINGER = 0.1  # s assignments gather before they are sent (unless a slave asks)
GONE_MAX = 100_000  # key IDs remembered as handed to a slave

Group = tuple[str, tuple[str, ...], str]  # master, slaves, unit


def entry(key_id: str, segs: list[Segment]) -> list[Any]:
    """One key of an assign message: its ID, then chunk, start, end per segment."""
    out: list[Any] = [key_id]
    for seg in segs:
        out.extend(seg)
    return out


class AssignMixin:
    """The assignment half of a KME (kme.Kme provides ``_send``, ``_background``)."""

    kme_id: str
    directory: dict[str, str]

    def _init_assign(self) -> None:
        self.assignments: dict[str, Assignment] = {}  # for this KME's slaves
        self.gone: dict[str, None] = {}  # key IDs handed to a slave, oldest first
        self.assigned = asyncio.Event()
        self.outbox: dict[str, dict[Group, list[list[Any]]]] = {}
        self._flushing: set[str] = set()
        self._hurry: dict[str, asyncio.Event] = {}  # a slave's KME asked: send now
        self.assign_messages = 0  # assign messages taken (bench/kme.py reports it)

    # Provided by kme.Kme, the class this half is mixed into.
    async def _send(self, peer: str, path: str, msg: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _background(self, coro: Any) -> None:
        raise NotImplementedError

    # -- the master's side ---------------------------------------------------------------

    def queue_assignments(
        self, dest: str, master: str, slaves: list[str], entries: list[list[Any]], unit: str = ""
    ) -> None:
        """Tell ``dest`` of these keys (``entry`` each) soon: batched, retried."""
        groups = self.outbox.setdefault(dest, {})
        groups.setdefault((master, tuple(slaves), unit), []).extend(entries)
        if dest not in self._flushing:
            self._flushing.add(dest)
            self._background(self._flush(dest))

    def flush_now(self, dest: str) -> int:
        """A slave's KME is waiting for a key: end the linger towards it; keys queued."""
        queued = sum(len(e) for e in self.outbox.get(dest, {}).values())
        if queued and dest in self._hurry:
            self._hurry[dest].set()
        return queued

    async def _flush(self, dest: str) -> None:
        """Tell ``dest`` every assignment queued for it, until it acknowledges them: one
        flush per destination at a time, one message per linger (what queues while one
        is on its way waits for the next linger, unless a slave's KME asks)."""
        hurry = self._hurry.setdefault(dest, asyncio.Event())
        delay = ASSIGN_LINGER
        try:
            while self.outbox.get(dest):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(hurry.wait(), delay)
                hurry.clear()
                groups = self.outbox.pop(dest)
                msg = {
                    "origin": self.kme_id,
                    "groups": [
                        {"master": m, "slaves": list(s), "unit": u, "keys": keys}
                        for (m, s, u), keys in groups.items()
                    ],
                }
                try:
                    await self._send(dest, "/kme/v1/assign", msg)
                    delay = ASSIGN_LINGER
                except KmeError as err:
                    log.warning("assignments to %s not delivered (%s): retrying", dest, err.message)
                    for group, keys in self.outbox.pop(dest, {}).items():  # keep the order
                        groups.setdefault(group, []).extend(keys)
                    self.outbox[dest] = groups
                    delay = min(2.0, max(0.05, delay * 2))
        finally:
            self._flushing.discard(dest)

    # -- the slave's side ----------------------------------------------------------------

    def take_assignments(self, msg: dict[str, Any]) -> int:
        """Keep the keys a master's KME gave out (checked for shape, segments read later)."""
        origin = msg["origin"]
        groups = msg.get("groups")
        if not isinstance(groups, list):
            raise KmeError(400, "an assign message carries a list of groups")
        new = []
        for group in groups:
            try:
                master, slaves = str(group["master"]), tuple(str(s) for s in group["slaves"])
                unit, keys = str(group.get("unit", "")), group["keys"]
                for k in keys:
                    if len(k) < 4 or len(k) % 3 != 1:
                        raise ValueError(k)
            except (TypeError, KeyError, ValueError):
                raise KmeError(400, "malformed assignment group") from None
            new += [Assignment(str(k[0]), origin, master, slaves, k[1:], unit) for k in keys]
        self.assign_messages += 1
        for a in new:
            if a.key_id not in self.gone:  # a late or repeated message: never twice
                self.assignments[a.key_id] = a
        self.assigned.set()
        self.assigned = asyncio.Event()
        return len(new)

    def _gone(self, key_id: str) -> None:
        self.gone[key_id] = None
        if len(self.gone) > GONE_MAX:
            del self.gone[next(iter(self.gone))]

    async def _wait_assigned(self, key_ids: list[str], master: str) -> None:
        """Until every key ID is assigned here (400 after ``ASSIGN_WAIT`` or for a key
        already handed out); the first miss asks the master's KME to send now."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ASSIGN_WAIT
        asked = False
        while missing := [k for k in key_ids if k not in self.assignments]:
            if loop.time() >= deadline or any(k in self.gone for k in missing):
                raise KmeError(400, f"key_ID {missing[0]} is not available")
            origin = self.directory.get(master)
            if not asked and origin is not None and origin != self.kme_id:
                asked = True
                self._background(self._ask_flush(origin))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.assigned.wait(), deadline - loop.time())

    async def _ask_flush(self, origin: str) -> None:
        try:
            await self._send(origin, "/kme/v1/flush", {"from": self.kme_id})
        except KmeError as err:  # the assignment comes after the linger anyway
            log.info("flush request to %s failed: %s", origin, err.message)
