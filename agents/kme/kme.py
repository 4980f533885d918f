"""The KME: key generation per link, trusted-node relay, key delivery rules.

Seed 4.1-4.2: a KME stores keys for the SAEs attached to it and forwards keys hop by hop
through trusted nodes along the forwarding table the control plane configures (the SS
model's ``key-forwarding`` routes: destination KME, next-hop KME).

Relay (one-time pad hop by hop): the master's KME takes key K from the material it shares
with the first hop. Each trusted node recovers K with its material towards the previous
hop and sends ``K xor k_next`` (plus the range of ``k_next`` in the next link's stream,
never the pad itself) to the next hop; the slave's KME recovers K. Only the end KMEs
keep K; intermediate ones relay XORed material and forget it.

Two phases make a failure leave nothing usable: the slave's KME holds relayed keys as
pending until the master's KME, having seen the whole chain succeed, sends ``commit``
along the same route; only then does the master get its keys (``enc_keys``) and the
slave become able to fetch them (``dec_keys``). Any failure aborts: the master gets a
503 and the pending keys are dropped (or expire). Used link material is never reused.

KME-to-KME messages travel as HTTPS POSTs with mutual TLS on the same aiohttp server
as the ETSI 014 API (routes under ``/kme/v1/``, callers authorised by their KME
certificate): the same stack, the same PKI and one port per KME, and a real deployment
would separate them by listener, not by protocol. Logs name key ids, sizes and counts,
never key bits.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from qnms.qndt.qkd import KeyYield
from qnms_agents.kme.pool import HeldKey, KeyStore, LinkPool

log = logging.getLogger(__name__)

Send = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


class KmeError(Exception):
    """An ETSI 014 Error: HTTP status, message, details."""

    def __init__(self, status: int, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


@dataclass
class KmeLimits:
    """The numbers a Status reports (ETSI GS QKD 014 clause 6.1)."""

    key_size: int = 256
    min_key_size: int = 64
    max_key_size: int = 1024
    max_key_count: int = 1000
    max_key_per_request: int = 128
    max_SAE_ID_count: int = 2
    batch_bytes: int = 256  # link material is handed over in batches of this size


@dataclass
class Kme:
    """One KME: its link pools, its store of keys for slaves, its relay role."""

    kme_id: str
    limits: KmeLimits = field(default_factory=KmeLimits)
    local_saes: set[str] = field(default_factory=set)
    directory: dict[str, str] = field(default_factory=dict)  # SAE id -> its KME id
    routes: Callable[[], dict[str, str]] = dict  # destination KME -> next-hop KME
    send: Send | None = None  # (peer KME, path, JSON) -> JSON, raises on failure

    def __post_init__(self) -> None:
        self.pools: dict[str, LinkPool] = {}
        self.yields: dict[str, KeyYield] = {}
        self.store = KeyStore(self.limits.max_key_count)
        self.relayed = 0  # keys this KME forwarded as a trusted node
        self.failed_relays = 0
        self.spare: dict[str, int] = {}  # bytes made but not yet a whole batch, per link
        self.push_locks: dict[str, asyncio.Lock] = {}  # batches reach a peer in order

    # -- links and generation -------------------------------------------------------

    def add_link(self, peer: str) -> LinkPool:
        if peer not in self.pools:
            cap = self.limits.max_key_count * self.limits.key_size // 8
            self.pools[peer] = LinkPool(self.kme_id, peer, cap)
            self.yields[peer] = KeyYield()
        return self.pools[peer]

    async def pairs_delivered(self, peer: str, fidelity: float, count: int = 1) -> int:
        """Account pairs the twin delivered on the link to ``peer``; push finished batches.

        Only the link's generator makes and pushes bits; bytes made: returned.
        """
        pool = self.add_link(peer)
        yld = self.yields[peer]
        yld.add(fidelity, count)
        pool.qber, pool.producing = yld.last_qber, yld.producing
        if not yld.producing:
            log.warning(
                "link %s-%s: QBER %.3f above threshold, no key", self.kme_id, peer, yld.last_qber
            )
        if not pool.generator:
            return 0
        made = yld.take_bytes()
        pending = self.spare.get(peer, 0) + made
        size = self.limits.batch_bytes
        while pending >= size:
            pending -= size
            await self._push_batch(pool, secrets.token_bytes(size))
        self.spare[peer] = pending
        return made

    async def _push_batch(self, pool: LinkPool, data: bytes) -> None:
        async with self.push_locks.setdefault(pool.peer, asyncio.Lock()):
            await self._push_batch_in_order(pool, data)

    async def _push_batch_in_order(self, pool: LinkPool, data: bytes) -> None:
        owner = pool.owner_for_next_batch()
        msg = {"from": self.kme_id, "owner": owner, "data": b64(data), "qber": pool.qber}
        if self.send is not None:
            try:
                await self.send(pool.peer, "/kme/v1/batch", msg)
            except Exception as err:  # the peer never got it: neither side keeps it
                log.warning("batch to %s lost (%s): %d bytes dropped", pool.peer, err, len(data))
                return
        pool.add_batch(owner, data)
        log.debug("link %s-%s: batch of %d bytes for %s", self.kme_id, pool.peer, len(data), owner)

    def take_batch(self, msg: dict[str, Any]) -> None:
        pool = self.add_link(msg["from"])
        pool.qber = float(msg.get("qber", 0.0))
        pool.add_batch(msg["owner"], unb64(msg["data"]))

    # -- routes ----------------------------------------------------------------------

    def next_hop(self, dest: str) -> str:
        hop = self.routes().get(dest)
        if hop is None and dest in self.pools:
            hop = dest
        if hop is None or hop not in self.pools:
            raise KmeError(503, f"no key-forwarding route from {self.kme_id} to {dest}")
        return hop

    def stored_key_count(self, slave_kme: str, size_bits: int) -> int:
        """Keys of ``size_bits`` this KME can start towards ``slave_kme`` now."""
        try:
            pool = self.pools[self.next_hop(slave_kme)]
        except KmeError:
            return 0
        return min(self.limits.max_key_count, pool.mine.available() * 8 // size_bits)

    # -- the master's side -------------------------------------------------------------

    async def enc_keys(
        self, master: str, slaves: list[str], number: int, size_bits: int
    ) -> list[tuple[str, bytes]]:
        """Make ``number`` keys for ``master`` shared with ``slaves`` (all at one KME)."""
        dest = self.directory[slaves[0]]
        ids = [str(uuid.uuid4()) for _ in range(number)]
        nbytes = size_bits // 8
        if dest == self.kme_id:  # both SAEs on this KME: no link involved
            raise KmeError(400, "master and slave SAEs are attached to the same KME")
        hop = self.next_hop(dest)
        got = self.pools[hop].mine.allocate(nbytes * number)
        if got is None:
            raise KmeError(503, f"not enough key material towards {dest}: try later")
        start, end, material = got
        relay = str(uuid.uuid4())
        msg = {
            "relay": relay,
            "origin": self.kme_id,
            "dest": dest,
            "from": self.kme_id,
            "range": [start, end],
            "key_IDs": ids,
            "size": size_bits,
            "master": master,
            "slaves": slaves,
        }
        try:
            await self._send(hop, "/kme/v1/relay", msg)
            await self._send(hop, "/kme/v1/commit", {"relay": relay, "dest": dest})
        except KmeError:
            self.failed_relays += 1
            await self._abort(hop, relay, dest)
            raise
        log.info("keys %s (%d bits) for %s -> %s via %s", ids, size_bits, master, slaves, hop)
        return [(kid, material[i * nbytes : (i + 1) * nbytes]) for i, kid in enumerate(ids)]

    async def _send(self, peer: str, path: str, msg: dict[str, Any]) -> dict[str, Any]:
        if self.send is None:
            raise KmeError(503, "no KME-to-KME channel")
        try:
            return await self.send(peer, path, msg)
        except KmeError:
            raise
        except Exception as err:
            raise KmeError(503, f"key relay via {peer} failed: {err}") from err

    async def _abort(self, hop: str, relay: str, dest: str) -> None:
        try:
            await self._send(hop, "/kme/v1/commit", {"relay": relay, "dest": dest, "abort": True})
        except KmeError as err:  # the pending keys expire at the far end anyway
            log.info("abort of relay %s not delivered: %s", relay, err.message)

    # -- trusted node and slave's side -------------------------------------------------

    async def relay(self, msg: dict[str, Any]) -> dict[str, Any]:
        """One hop of a relay: recover K from the previous link, store it or pass it on."""
        pool = self.pools.get(msg["from"])
        start, end = msg["range"]
        pad = pool.theirs.extract(start, end) if pool else None
        if pad is None:
            raise KmeError(503, f"{self.kme_id}: no link material {start}:{end} from {msg['from']}")
        key = xor(unb64(msg["payload"]), pad) if "payload" in msg else pad
        if msg["dest"] == self.kme_id:
            n = len(msg["key_IDs"])
            nbytes = len(key) // n
            held = [
                HeldKey(
                    kid,
                    key[i * nbytes : (i + 1) * nbytes],
                    msg["master"],
                    tuple(msg["slaves"]),
                    msg["relay"],
                )
                for i, kid in enumerate(msg["key_IDs"])
            ]
            if not self.store.hold(held):
                raise KmeError(503, f"{self.kme_id}: key store full")
            log.info(
                "holding keys %s for %s (relay %s)", msg["key_IDs"], msg["slaves"], msg["relay"]
            )
            return {"held": n}
        hop = self.next_hop(msg["dest"])
        got = self.pools[hop].mine.allocate(len(key))
        if got is None:
            raise KmeError(503, f"{self.kme_id}: not enough key material towards {hop}")
        nstart, nend, nxt = got
        fwd = {k: v for k, v in msg.items() if k not in ("payload", "range", "from")}
        fwd |= {"from": self.kme_id, "range": [nstart, nend], "payload": b64(xor(key, nxt))}
        self.relayed += len(msg["key_IDs"])
        log.info("relaying keys %s to %s via %s", msg["key_IDs"], msg["dest"], hop)
        return await self._send(hop, "/kme/v1/relay", fwd)

    async def settle(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Commit or abort a relay at the slave's KME, forwarding along the route."""
        if msg["dest"] == self.kme_id:
            n = self.store.settle(msg["relay"], commit=not msg.get("abort"))
            return {"settled": n}
        return await self._send(self.next_hop(msg["dest"]), "/kme/v1/commit", msg)
