"""Key material a KME shares with one neighbour KME, and the keys it holds for its SAEs.

Link material (seed 4.1: the QFP makes key per link) arrives in batches, each made by
the link's *generator* (the endpoint KME whose id sorts first) from the pairs the twin
delivered (qnms.qndt.qkd) and copied to the other endpoint over the KME-to-KME channel.
Every batch belongs to one direction of the link, chosen by the generator (the
direction holding less material): the owner of a direction is the only KME that
allocates from it, always sequentially, so the two copies never disagree about which
bytes are used and no KME-to-KME round trip is needed to allocate (``mine``); the other
side only extracts the ranges named in messages from the owner (``theirs``).

Used bytes are dropped at once on both sides: one-time-pad material is never reused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class Stream:
    """An append-only byte stream addressed by absolute offsets, trimmed from the front."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.base = 0  # absolute offset of buf[0]
        self.ptr = 0  # next offset to allocate (owner side)
        self.consumed: dict[int, int] = {}  # start -> end of ranges used (other side)

    @property
    def end(self) -> int:
        return self.base + len(self.buf)

    def append(self, data: bytes) -> None:
        self.buf += data

    def available(self) -> int:
        """Bytes not yet used (owner view: after ``ptr``; other view: not consumed)."""
        used = sum(e - s for s, e in self.consumed.items())
        return self.end - max(self.ptr, self.base) - used

    def allocate(self, n: int) -> tuple[int, int, bytes] | None:
        """The next ``n`` bytes as (start, end, bytes), or None when there are fewer."""
        start = max(self.ptr, self.base)
        if self.end - start < n:
            return None
        data = bytes(self.buf[start - self.base : start - self.base + n])
        self.ptr = start + n
        self._trim(self.ptr)
        return start, start + n, data

    def extract(self, start: int, end: int) -> bytes | None:
        """The bytes [start, end) the owner allocated; None if gone or not yet here."""
        if start < self.base or end > self.end or start in self.consumed or end <= start:
            return None
        data = bytes(self.buf[start - self.base : end - self.base])
        self.consumed[start] = end
        while self.base in self.consumed:
            self._trim(self.consumed.pop(self.base))
        return data

    def _trim(self, upto: int) -> None:
        if upto > self.base:
            del self.buf[: upto - self.base]
            self.base = upto


@dataclass
class LinkPool:
    """Key material shared with one neighbour KME, in both directions."""

    local: str
    peer: str
    capacity: int  # bytes per direction
    mine: Stream = field(default_factory=Stream)
    theirs: Stream = field(default_factory=Stream)
    batches: int = 0
    discarded: int = 0  # bytes made while the owning direction was full
    qber: float = 0.0
    producing: bool = True

    @property
    def generator(self) -> bool:
        return self.local < self.peer

    def owner_for_next_batch(self) -> str:
        """The direction that gets the next batch: the one holding less material."""
        return self.local if self.mine.available() <= self.theirs.available() else self.peer

    def add_batch(self, owner: str, data: bytes) -> bool:
        """Store a batch for ``owner``'s direction; False (dropped) when that one is full."""
        stream = self.mine if owner == self.local else self.theirs
        self.batches += 1
        if stream.available() + len(data) > self.capacity:
            self.discarded += len(data)
            return False
        stream.append(data)
        return True


@dataclass
class HeldKey:
    """A key waiting at the slave's KME for a ``dec_keys`` call from a named slave."""

    key_id: str
    key: bytes
    master: str
    slaves: tuple[str, ...]
    relay: str
    ready: bool = False
    stamp: float = field(default_factory=time.monotonic)


class KeyStore:
    """Keys held for slave SAEs; each is handed out once, to one of the named slaves."""

    def __init__(self, max_keys: int, pending_ttl: float = 30.0) -> None:
        self.max_keys = max_keys
        self.pending_ttl = pending_ttl
        self.keys: dict[str, HeldKey] = {}
        self.delivered = 0

    def room(self) -> int:
        self._expire()
        return self.max_keys - len(self.keys)

    def hold(self, keys: list[HeldKey]) -> bool:
        """Hold relayed keys (not yet usable); False when that would pass ``max_keys``."""
        if len(keys) > self.room():
            return False
        for k in keys:
            self.keys[k.key_id] = k
        return True

    def settle(self, relay: str, commit: bool) -> int:
        """Make a relay's keys usable (commit) or drop them (abort); how many."""
        ids = [kid for kid, k in self.keys.items() if k.relay == relay and not k.ready]
        for kid in ids:
            if commit:
                self.keys[kid].ready = True
            else:
                del self.keys[kid]
        return len(ids)

    def count_for(self, slave: str) -> int:
        return sum(1 for k in self.keys.values() if k.ready and slave in k.slaves)

    def take(self, key_ids: list[str], slave: str, master: str) -> tuple[list[HeldKey], int, str]:
        """Hand out the keys, all or none: (keys, 0, "") or ([], http status, reason).

        No await happens in here, so two slaves racing for one key cannot both get it.
        """
        found = []
        for kid in key_ids:
            k = self.keys.get(kid)
            if k is None or not k.ready or k.master != master:
                return [], 400, f"key_ID {kid} is not available"
            if slave not in k.slaves:
                return [], 401, f"SAE {slave} was not named as a slave for key_ID {kid}"
            found.append(k)
        for k in found:
            del self.keys[k.key_id]
        self.delivered += len(found)
        return found, 0, ""

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.pending_ttl
        for kid in [kid for kid, k in self.keys.items() if not k.ready and k.stamp < cutoff]:
            del self.keys[kid]
