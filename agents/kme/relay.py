"""Trusted-node relay: end-to-end key stores filled hop by hop with one-time pads.

Seed 4.2: keys reach distant KMEs through trusted nodes, following the forwarding table
the control plane configures (the SS model's ``key-forwarding`` routes: destination KME,
next-hop KME). A KME keeps an end-to-end key store towards every destination it has a
route to (and every neighbour), filled ahead of demand in chunks, so ``enc_keys`` never
waits for the network:

* the origin takes chunk K from the link pool towards the first hop (its own direction);
* each trusted node recovers K with its material from the previous hop and sends
  ``K xor k_next`` with the segments of ``k_next`` in the next link's pool (never the pad
  itself); only XORed material leaves a node, and nodes keep nothing;
* the destination holds K as *pending*.

Before it spends anything, the origin asks along the route whether every later hop has
the material now (``/kme/v1/ready``): the slowest link sets the pace, and no faster
link's key is burnt on a relay that would fail. Then, after the relay, the origin sends
``commit`` along the same route: the destination moves K into its
store (the origin's direction) and, once that is acknowledged, the origin does too. A
failure anywhere before the commit leaves nothing usable at either end: the origin never
adds K, the destination drops pending chunks (abort, or expiry). A commit whose reply is
lost leaves a chunk only at the destination, which no assignment ever names (chunks are
addressed by id: pool.py). Used link material is never reused.

Messages travel as HTTPS POSTs with mutual TLS between KMEs (``/kme/v1/ready``,
``/kme/v1/relay`` and ``/kme/v1/commit``, server.py): the same stack and PKI as ETSI
014, callers authorised by their KME certificates.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from qnms_agents.kme.pool import Pool, Segment
from qnms_agents.kme.wire import KmeError, b64, unb64, xor

log = logging.getLogger(__name__)

PENDING_TTL = 30.0
RETRY_AFTER = 1.0  # s between relay attempts on a route that failed
# A trusted node short of key on a next link that is making key (it has had some) waits
# this long for more before it fails the relay: a failed relay wastes the previous
# hops' key. A link that never made any fails at once.
RELAY_WAIT, RELAY_POLL = 3.0, 0.02


def segments(raw: Any) -> list[Segment]:
    return [(str(c), int(s), int(e)) for c, s, e in raw]


class RelayMixin:
    """The relay half of a KME (kme.Kme provides pools, stores, routes and _send)."""

    kme_id: str
    pools: dict[str, Pool]
    stores: dict[str, Pool]
    pending: dict[str, tuple[str, bytes, float]]  # chunk -> (origin, material, since)
    relayed: int
    failed_relays: int
    _fill_lock: asyncio.Lock
    _retry_at: dict[str, float]  # destination -> monotonic time before which not to retry
    store_listeners: list[Callable[[str], None]]  # told when a store grew (units.py)

    # Provided by kme.Kme, the class this half is mixed into.
    def next_hop(self, dest: str) -> str:
        raise NotImplementedError

    def store(self, dest: str) -> Pool:
        raise NotImplementedError

    async def _send(self, peer: str, path: str, msg: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def destinations(self) -> list[str]:
        raise NotImplementedError

    @property
    def chunk_bytes(self) -> int:
        raise NotImplementedError

    async def fill_stores(self) -> int:
        """Top up the end-to-end stores from the link pools, a chunk at a time to the
        emptiest store first, until they are full or the first hops run dry (link key is
        shared fairly among destinations); chunks moved."""
        moved = 0
        async with self._fill_lock:
            progress = True
            while progress:
                progress = False
                dests = self.destinations()
                dests.sort(key=lambda d: self.store(d).mine.available())
                for dest in dests:
                    if await self._fill_one(dest):
                        moved += 1
                        progress = True
                        break
        return moved

    async def _fill_one(self, dest: str) -> bool:
        size = self.chunk_bytes
        try:
            hop = self.next_hop(dest)
        except Exception:
            return False
        store = self.store(dest)
        if time.monotonic() < self._retry_at.get(dest, 0.0):
            return False  # a relay just failed: do not burn more link key on that route
        if store.room() < size or self.pools[hop].mine.available() < size:
            return False
        if hop != dest and not (await self._probe(hop, dest, size)).get("ready"):
            return False  # a later hop has not made enough key yet: spend none now
        got = self.pools[hop].mine.allocate(size)
        assert got is not None
        segs, material = got
        chunk = str(uuid.uuid4())
        msg = {
            "chunk": chunk,
            "origin": self.kme_id,
            "dest": dest,
            "from": self.kme_id,
            "segments": segs,
        }
        try:
            await self._send(hop, "/kme/v1/relay", msg)
            await self._send(hop, "/kme/v1/commit", {"chunk": chunk, "dest": dest})
        except Exception as err:
            self.failed_relays += 1
            self._retry_at[dest] = time.monotonic() + RETRY_AFTER
            log.warning("relay of chunk %s to %s via %s failed: %s", chunk, dest, hop, err)
            await self._abort(hop, chunk, dest)
            return False
        store.add_chunk(self.kme_id, chunk, material)
        for listener in self.store_listeners:
            listener(dest)
        log.debug("store %s-%s: chunk %s of %d bytes", self.kme_id, dest, chunk, size)
        return True

    async def _probe(self, hop: str, dest: str, size: int) -> dict[str, Any]:
        try:
            return await self._send(hop, "/kme/v1/ready", {"dest": dest, "size": size})
        except Exception as err:  # unreachable: the relay would fail too
            log.info("route to %s via %s not ready: %s", dest, hop, err)
            return {"ready": False}

    async def route_ready(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Can every hop from here on carry ``size`` bytes towards ``dest`` now? Asked
        before a relay, so that the origin spends no link key on a route whose later
        link is still making its key (the slowest hop sets the pace)."""
        dest, size = str(msg["dest"]), int(msg["size"])
        if dest == self.kme_id:
            return {"ready": True}
        hop = self.next_hop(dest)
        if self.pools[hop].mine.available() < size:
            return {"ready": False}
        return {"ready": True} if hop == dest else await self._probe(hop, dest, size)

    async def _abort(self, hop: str, chunk: str, dest: str) -> None:
        try:
            await self._send(hop, "/kme/v1/commit", {"chunk": chunk, "dest": dest, "abort": True})
        except Exception as err:  # pending chunks expire at the far end anyway
            log.info("abort of chunk %s not delivered: %s", chunk, err)

    async def relay(self, msg: dict[str, Any]) -> dict[str, Any]:
        """One hop: recover K from the previous link, hold it (destination) or pass it on."""
        pool = self.pools.get(msg["from"])
        pad = pool.theirs.extract(segments(msg["segments"])) if pool else None
        if pad is None:
            raise KmeError(503, f"{self.kme_id}: link material from {msg['from']} is missing")
        key = xor(unb64(msg["payload"]), pad) if "payload" in msg else pad
        if msg["dest"] == self.kme_id:
            self._expire()
            self.pending[msg["chunk"]] = (msg["origin"], key, time.monotonic())
            return {"held": len(key)}
        hop = self.next_hop(msg["dest"])
        got = self.pools[hop].mine.allocate(len(key))
        waited = time.monotonic() + RELAY_WAIT if self.pools[hop].chunks else 0.0
        while got is None and time.monotonic() < waited:  # the next link is making it now
            await asyncio.sleep(RELAY_POLL)
            got = self.pools[hop].mine.allocate(len(key))
        if got is None:
            raise KmeError(503, f"{self.kme_id}: not enough link material towards {hop}")
        segs, nxt = got
        fwd = {k: v for k, v in msg.items() if k not in ("payload", "segments", "from")}
        fwd |= {"from": self.kme_id, "segments": segs, "payload": b64(xor(key, nxt))}
        self.relayed += 1
        log.debug("relaying chunk %s to %s via %s", msg["chunk"], msg["dest"], hop)
        return await self._send(hop, "/kme/v1/relay", fwd)

    async def settle(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Commit or abort a relayed chunk at its destination, forwarding along the route."""
        if msg["dest"] != self.kme_id:
            return await self._send(self.next_hop(msg["dest"]), "/kme/v1/commit", msg)
        held = self.pending.pop(msg["chunk"], None)
        if held is None:
            return {"settled": 0}
        origin, key, _ = held
        if not msg.get("abort"):
            self.store(origin).add_chunk(origin, msg["chunk"], key)
            for listener in self.store_listeners:
                listener(origin)
        return {"settled": 1}

    def _expire(self) -> None:
        cutoff = time.monotonic() - PENDING_TTL
        for chunk in [c for c, (_, _, t) in self.pending.items() if t < cutoff]:
            del self.pending[chunk]
