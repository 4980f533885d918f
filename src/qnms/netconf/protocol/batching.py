"""Replies of a pipelining client, held for one fsync and one write (issue 13).

RFC 6241 4.2 lets a client send requests before the replies to earlier ones; the
server answers them one by one, in order. While more requests wait already, a
session holds the replies it built and answers the next request first: the batch
then costs one ``Datastores.sync`` (group commit: one fsync for every edit in it) and
one SSH write, where each reply cost its own. Nothing is held when no request waits
(a client waiting for this reply gets it at once), nor for long, nor when something
must happen once the reply is written (notifications start, the session closes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

MAX_HELD_REPLIES = 32  # replies of one batch
MAX_HOLD_S = 0.05  # nor held longer than this while later requests are answered


@dataclass
class ReplyBatch:
    """The held replies, each with the ``<rpc>`` it answers (to answer it again with
    an error if its edit could not be made durable)."""

    held: list[tuple[etree._Element | None, bytes]] = field(default_factory=list)
    since: float = 0.0  # loop time of the oldest held reply
    unsynced_from: int | None = None  # index of the first reply after a deferred edit

    def add(self, rpc: etree._Element | None, reply: bytes, now: float) -> None:
        if not self.held:
            self.since = now
        self.held.append((rpc, reply))

    def deferred_write(self) -> None:
        """The request answered next changed running without fsync: its reply, and
        those after it, stand only once ``sync`` succeeds."""
        if self.unsynced_from is None:
            self.unsynced_from = len(self.held)

    def hold_more(self, waiting: int, now: float) -> bool:
        """Whether to answer a waiting request before sending what is held."""
        return waiting > 0 and len(self.held) < MAX_HELD_REPLIES and now - self.since < MAX_HOLD_S

    def take(self) -> tuple[list[tuple[etree._Element | None, bytes]], int]:
        """(the held replies, the index from which they wait for an fsync); empties."""
        held, start = self.held, self.unsynced_from
        self.held, self.unsynced_from = [], None
        return held, len(held) if start is None else start
