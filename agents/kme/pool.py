"""Key material a KME shares with another KME: per link, and end to end.

Two kinds of pools, one class (``Pool``):

* link pools (seed 4.1: the QFP makes key per link): material in chunks made by the
  link's *generator* (the endpoint KME whose id sorts first) from the pairs the twin
  delivered (qnms.service.qkd), copied to the other endpoint over the KME-to-KME channel;
* end-to-end key stores (seed 4.2: trusted-node forwarding): material shared with a
  distant KME, in chunks relayed through trusted nodes and committed at both ends.

Every chunk belongs to one direction: the KME that owns a direction is the only one
allocating from it, always in order (``mine``); the other end only extracts the segments
(chunk id, start, end) the owner names (``theirs``). So the two copies never disagree
about which bytes are used and allocation needs no round trip. Chunks are addressed by
id, not by stream offset: a chunk one side has and the other lost is never named, so it
is never used. Used bytes are dropped at once on both sides: one-time-pad material is
never reused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Segment = tuple[str, int, int]  # chunk id, start, end (bytes within the chunk)


class Stream:
    """Chunks of one direction: allocated in order (owner) or by segment (other end)."""

    def __init__(self) -> None:
        self.chunks: dict[str, bytes] = {}  # insertion order is allocation order
        self.head = 0  # bytes already allocated from the first chunk (owner side)
        self.used: dict[str, list[tuple[int, int]]] = {}  # extracted ranges (other end)
        self._available = 0

    def add(self, chunk: str, data: bytes) -> None:
        if chunk in self.chunks:
            return  # a repeated message: the chunk is already here
        self.chunks[chunk] = bytes(data)
        self._available += len(data)

    def available(self) -> int:
        """Bytes not yet used."""
        return self._available

    def allocate(self, n: int) -> tuple[list[Segment], bytes] | None:
        """The next ``n`` bytes and the segments naming them; None when there are fewer."""
        if self.available() < n:
            return None
        segs: list[Segment] = []
        out = bytearray()
        while len(out) < n:
            cid, data = next(iter(self.chunks.items()))
            take = min(n - len(out), len(data) - self.head)
            segs.append((cid, self.head, self.head + take))
            out += data[self.head : self.head + take]
            self.head += take
            if self.head == len(data):
                del self.chunks[cid]
                self.head = 0
        self._available -= n
        return segs, bytes(out)

    def holds(self, segs: list[Segment]) -> bool:
        """Every byte the owner named is here and unused (what ``extract`` would take)."""
        for cid, s, e in segs:
            data = self.chunks.get(cid)
            if data is None or not 0 <= s < e <= len(data):
                return False
            if any(s < ue and us < e for us, ue in self.used.get(cid, ())):
                return False
        return True

    def extract(self, segs: list[Segment]) -> bytes | None:
        """The bytes the owner named, all or none (None if any is missing or used)."""
        if not self.holds(segs):
            return None
        out = bytearray()
        for cid, s, e in segs:
            out += self.chunks[cid][s:e]
            ranges = self.used.setdefault(cid, [])
            ranges.append((s, e))
            if sum(ue - us for us, ue in ranges) == len(self.chunks[cid]):
                del self.chunks[cid], self.used[cid]
        self._available -= len(out)
        return bytes(out)


@dataclass
class Pool:
    """Material shared with one other KME (a neighbour, or a distant end), both ways."""

    local: str
    peer: str
    capacity: int  # bytes per direction
    mine: Stream = field(default_factory=Stream)
    theirs: Stream = field(default_factory=Stream)
    chunks: int = 0
    discarded: int = 0  # bytes made while the owning direction was full
    qber: float = 0.0
    producing: bool = True

    @property
    def generator(self) -> bool:
        return self.local < self.peer

    def owner_for_next_chunk(self) -> str:
        """The direction that gets the next link chunk: the one holding less material."""
        return self.local if self.mine.available() <= self.theirs.available() else self.peer

    def room(self) -> int:
        return self.capacity - self.mine.available()

    def add_chunk(self, owner: str, chunk: str, data: bytes) -> bool:
        """Store a chunk for ``owner``'s direction; False (dropped) when that one is full."""
        stream = self.mine if owner == self.local else self.theirs
        self.chunks += 1
        if stream.available() + len(data) > self.capacity:
            self.discarded += len(data)
            return False
        stream.add(chunk, data)
        return True


@dataclass(slots=True)
class Assignment:
    """Keys the master's KME handed out, told to the slave's KME: ids and segments only.

    ``flat`` is the segments as they came over the wire (chunk, start, end, chunk, ...):
    read (``segments``) only when a slave asks for the key, most never are twice."""

    key_id: str
    origin: str  # the master's KME
    master: str
    slaves: tuple[str, ...]
    flat: list[Any]
    unit: str = ""  # the qkd-key service unit it was reserved for (units.py), if any

    def segments(self) -> list[Segment] | None:
        """The segments, or None when the master's KME named them wrongly."""
        it = iter(self.flat)
        try:
            return [(str(c), int(s), int(e)) for c, s, e in zip(it, it, it, strict=True)]
        except (TypeError, ValueError):
            return None
