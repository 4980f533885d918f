"""The KME: link key from the twin, end-to-end key stores, ETSI 014 delivery rules.

Seed 4.1-4.2: a KME stores keys for the SAEs attached to it, forwards keys through
trusted nodes (relay.py) and hands them to applications (api.py). The rules of ETSI GS
QKD 014 it enforces here:

* ``enc_keys`` (master SAE): keys come from the end-to-end store towards the slave's
  KME, allocated locally and at once; the slave's KME is told only the key ids, the
  segments of the shared store they use, the master and the named slaves (assign.py:
  in the background, batched, retried until acknowledged);
* ``dec_keys`` (slave SAE): only a slave named in the request gets the key (401
  otherwise), only once, and all requested keys or none. No ``await`` lies between the
  checks and the handing out, so two slaves racing for one key cannot both win. A key
  whose assignment is still on its way is asked for and waited for briefly.

Key bits never leave a KME except to the SAE that asked, and never reach a log: logs
name key ids, sizes and counts only.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from qnms.service.qkd import KeyYield
from qnms_agents.kme.assign import AssignMixin, entry
from qnms_agents.kme.pool import Pool
from qnms_agents.kme.relay import RelayMixin
from qnms_agents.kme.wire import KmeError, b64, unb64

__all__ = ["Kme", "KmeError", "KmeLimits", "b64"]

log = logging.getLogger(__name__)

Send = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
ReservedSource = Callable[[str, list[str], int, int], list[tuple[str, bytes]] | None]


@dataclass
class KmeLimits:
    """The numbers a Status reports (ETSI GS QKD 014 clause 6.1), and chunk sizes."""

    key_size: int = 256
    min_key_size: int = 64
    max_key_size: int = 1024
    max_key_count: int = 1000
    max_key_per_request: int = 128
    max_SAE_ID_count: int = 2
    batch_bytes: int = 256  # link material is made and copied in chunks of this size
    chunk_bytes: int = 256  # end-to-end stores are filled in chunks of this size
    store_bytes: int = 0  # each end-to-end store is topped up to this (0: its capacity)


@dataclass
class Kme(RelayMixin, AssignMixin):
    """One KME: link pools, end-to-end stores, assignments for its slaves."""

    kme_id: str
    limits: KmeLimits = field(default_factory=KmeLimits)
    local_saes: set[str] = field(default_factory=set)
    directory: dict[str, str] = field(default_factory=dict)  # SAE id -> its KME id
    routes: Callable[[], dict[str, str]] = dict  # destination KME -> next-hop KME
    send: Send | None = None  # (peer KME, path, JSON) -> JSON, raises on failure
    auto_fill: bool = True  # top up the end-to-end stores whenever link material comes
    known_kmes: set[str] = field(default_factory=set)  # KMEs that may call this one

    def __post_init__(self) -> None:
        self.pools: dict[str, Pool] = {}  # link pools, by neighbour
        self.stores: dict[str, Pool] = {}  # end-to-end stores, by distant KME
        self.yields: dict[str, KeyYield] = {}
        self.pending: dict[str, tuple[str, bytes, float]] = {}
        self._init_assign()
        self.relayed = self.failed_relays = self.delivered = 0
        self.spare: dict[str, int] = {}  # secret bytes not yet a whole chunk, per link
        self._seq = 0
        self._push_locks: dict[str, asyncio.Lock] = {}  # link chunks reach a peer in order
        self._fill_lock = asyncio.Lock()
        self._retry_at: dict[str, float] = {}
        self._fill_kicked = False
        self._ids: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        # Service units (units.py): told when a store grew, asked first by enc_keys, told
        # when a slave took a unit's key.
        self.store_listeners: list[Callable[[str], None]] = []
        self.reserved_source: ReservedSource | None = None
        self.on_unit_delivery: Callable[[str], None] = lambda _unit: None

    @property
    def capacity(self) -> int:
        return self.limits.max_key_count * self.limits.key_size // 8

    @property
    def chunk_bytes(self) -> int:
        return self.limits.chunk_bytes

    def add_link(self, peer: str) -> Pool:
        if peer not in self.pools:
            self.pools[peer] = Pool(self.kme_id, peer, self.capacity)
            self.yields[peer] = KeyYield()
        return self.pools[peer]

    def store(self, dest: str) -> Pool:
        if dest not in self.stores:
            cap = min(self.capacity, self.limits.store_bytes or self.capacity)
            self.stores[dest] = Pool(self.kme_id, dest, cap)
        return self.stores[dest]

    def destinations(self) -> list[str]:
        """Where end-to-end stores are kept: every routed destination (a neighbour too
        only when routed), and only by a KME with SAEs of its own: the control plane says
        where keys go, a trusted node without applications only relays, and a store
        nobody can draw from would spend link key the relays need."""
        if not self.local_saes:
            return []
        return sorted(set(self.routes()) - {self.kme_id})

    def next_hop(self, dest: str) -> str:
        hop = self.routes().get(dest)
        if hop is None and dest in self.pools:
            hop = dest
        if hop is None or hop not in self.pools:
            raise KmeError(503, f"no key-forwarding route from {self.kme_id} to {dest}")
        return hop

    def stored_key_count(self, dest: str, size_bits: int) -> int:
        """Keys of ``size_bits`` this KME can hand out towards ``dest`` now (<= max)."""
        avail = self.stores[dest].mine.available() if dest in self.stores else 0
        return min(self.limits.max_key_count, avail * 8 // size_bits)

    def _background(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _key_id(self) -> str:
        """A random (version 4) UUID, made 256 at a time from 4 KiB read from the OS (the
        uuid module's objects cost more than the rest of an enc_keys)."""
        if not self._ids:
            raw = bytearray(secrets.token_bytes(4096))
            for i in range(0, 4096, 16):
                raw[i + 6] = raw[i + 6] & 0x0F | 0x40  # version 4
                raw[i + 8] = raw[i + 8] & 0x3F | 0x80  # RFC 4122 variant
            h = raw.hex()
            self._ids = [
                f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-"
                f"{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
                for i in range(0, 8192, 32)
            ]
        return self._ids.pop()

    def kick_fill(self) -> None:
        """Top the stores up soon (once, however many callers ask meanwhile)."""
        if self.auto_fill and not self._fill_kicked:
            self._fill_kicked = True
            self._background(self._kicked_fill())

    async def _kicked_fill(self) -> None:
        self._fill_kicked = False
        await self.fill_stores()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- link key from the twin ------------------------------------------------------

    async def pairs_delivered(self, peer: str, fidelity: float, count: int = 1) -> int:
        """Account pairs the twin delivered on the link to ``peer`` (qnms.service.qkd); the
        link's generator turns whole chunks of secret bytes into shared material."""
        pool = self.add_link(peer)
        yld = self.yields[peer]
        yld.add(fidelity, count)
        was = pool.producing
        pool.qber, pool.producing = yld.last_qber, yld.producing
        if was and not yld.producing:  # said once per change, and always in the telemetry
            log.warning(
                "link %s-%s: QBER %.4f above threshold: no key", self.kme_id, peer, yld.last_qber
            )
        if not pool.generator:
            return 0
        made = yld.take_bytes()
        size = self.limits.batch_bytes
        whole, self.spare[peer] = divmod(self.spare.get(peer, 0) + made, size)
        for _ in range(whole):  # accounted before any await: concurrent calls never
            await self._push_chunk(pool, secrets.token_bytes(size))  # count bytes twice
        return made

    async def _push_chunk(self, pool: Pool, data: bytes) -> None:
        async with self._push_locks.setdefault(pool.peer, asyncio.Lock()):
            owner = pool.owner_for_next_chunk()
            self._seq += 1
            chunk = f"{self.kme_id}:{self._seq}"
            msg = {
                "from": self.kme_id,
                "owner": owner,
                "chunk": chunk,
                "data": b64(data),
                "qber": pool.qber,
                "producing": pool.producing,
            }
            try:
                await self._send(pool.peer, "/kme/v1/batch", msg)
            except KmeError as err:  # not acknowledged: this side never uses it
                log.warning("chunk %s to %s lost (%s)", chunk, pool.peer, err.message)
                return
            pool.add_chunk(owner, chunk, data)
        if owner == self.kme_id:
            self.kick_fill()

    def take_batch(self, msg: dict[str, Any]) -> None:
        pool = self.add_link(msg["from"])
        pool.qber, pool.producing = float(msg.get("qber", 0.0)), bool(msg.get("producing", 1))
        pool.add_chunk(msg["owner"], msg["chunk"], unb64(msg["data"]))
        if msg["owner"] == self.kme_id:
            self.kick_fill()

    # -- the master's side -------------------------------------------------------------

    def enc_keys(
        self, master: str, slaves: list[str], number: int, size_bits: int
    ) -> list[tuple[str, bytes]]:
        """``number`` keys for ``master``, shared with ``slaves`` (all at one KME)."""
        dest = self.directory[slaves[0]]
        if dest == self.kme_id:
            raise KmeError(400, "master and slave SAEs are attached to the same KME")
        if self.reserved_source is not None:
            reserved = self.reserved_source(master, slaves, number, size_bits)
            if reserved is not None:  # a service unit's keys: the slave already knows them
                log.info("unit keys %s for %s", [k for k, _ in reserved], master)
                return reserved
        nbytes = size_bits // 8
        store = self.stores.get(dest)
        if store is None or store.mine.available() < nbytes * number:
            raise KmeError(503, f"not enough key material towards {dest}: try later")
        out, entries = [], []
        for _ in range(number):
            got = store.mine.allocate(nbytes)
            assert got is not None
            kid = self._key_id()
            out.append((kid, got[1]))
            entries.append(entry(kid, got[0]))
        self.queue_assignments(dest, master, slaves, entries)
        if log.isEnabledFor(logging.INFO):
            ids = [k for k, _ in out]
            log.info("keys %s (%d bits) for %s, slaves %s", ids, size_bits, master, slaves)
        if store.room() >= self.chunk_bytes:  # a full store needs no top-up task
            hop = self.pools.get(self.routes().get(dest, dest))
            if hop is not None and hop.mine.available() >= self.chunk_bytes:
                self.kick_fill()
        return out

    async def _send(self, peer: str, path: str, msg: dict[str, Any]) -> dict[str, Any]:
        if self.send is None:
            raise KmeError(503, "no KME-to-KME channel")
        try:
            return await self.send(peer, path, msg)
        except KmeError:
            raise
        except Exception as err:
            raise KmeError(503, f"KME {peer} failed: {type(err).__name__}") from err

    # -- the slave's side ----------------------------------------------------------------

    async def dec_keys(
        self, slave: str, master: str, key_ids: list[str]
    ) -> list[tuple[str, bytes]]:
        """Hand the keys to a named slave, all or none; each key once."""
        await self._wait_assigned(key_ids, master)
        found = [self.assignments[k] for k in key_ids]  # from here on: no await
        for a in found:
            if a.master != master:
                raise KmeError(400, f"key_ID {a.key_id} is not a key of master {master}")
            if slave not in a.slaves:
                raise KmeError(401, f"SAE {slave} was not named as a slave for key_ID {a.key_id}")
        theirs = {a.origin: self.store(a.origin).theirs for a in found}
        if len(set(key_ids)) != len(key_ids):
            raise KmeError(400, "a key_ID is asked for twice")
        named = []
        for a in found:  # check every key before taking any: all or none
            segs = a.segments()
            if segs is None or not theirs[a.origin].holds(segs):
                # cannot happen unless the stores disagree: refuse, keep every key
                raise KmeError(503, f"key material of key_ID {a.key_id} is missing")
            named.append((a, segs))
        keys = []
        for a, segs in named:
            key = theirs[a.origin].extract(segs)
            assert key is not None  # held a moment ago, with no await in between
            del self.assignments[a.key_id]
            self._gone(a.key_id)
            if a.unit:
                self.on_unit_delivery(a.unit)
            keys.append((a.key_id, key))
        self.delivered += len(keys)
        log.info("delivered keys %s to slave %s", key_ids, slave)
        return keys
