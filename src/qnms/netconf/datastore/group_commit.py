"""Group commit of running (issue 13): edits share one fsync, none acknowledged before it.

An fsync per edit was the largest cost of a small edit-config (0.2 ms on a quiet disk,
2-7 ms under load), with the serialisation of the whole tree for its journal record,
and a client that pipelines its edits waits for each in turn. So a NETCONF edit of
running is installed without being written (``edit_config(durable=False)``, see
``StateFiles.save``) and the session calls ``sync(session_id)`` before any reply or
notification leaves it (``NetconfSession``): one journal record of the newest tree and
one fsync then cover every edit made since the last sync, by any session. Nothing is
acknowledged, and no other client is shown anything, before it is durable; a kill -9
in between loses only edits nobody was told about. (A server that runs edits in a
writer thread, ``ServerOptions.offload``, writes each durably there instead: a sync on
the loop would wait for the writer lock while another session's long edit holds it.)

A write or fsync that fails leaves the journal as it was (``Journal.append``), and
running is put back to the last durable tree (listeners hear of it, as of any change):
an edit that could not be made durable changes nothing. Every session whose edit was lost, and
the session whose ``sync`` saw the failure, get ``operation-failed`` instead of their
replies (``sync`` raises for them, once).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from qnms.yang.errors import ErrorTag, RpcError


@dataclass
class GroupCommit:
    """Which sessions have edits of running waiting for the fsync, and running's last
    durable tree to return to if that fsync fails."""

    durable: etree._Element | None = None  # running before the first unsynced edit
    waiting: set[int] = field(default_factory=set)  # sessions with unsynced edits
    lost: dict[int, str] = field(default_factory=dict)  # session -> why its edit was lost

    @property
    def pending(self) -> bool:
        return self.durable is not None

    def deferred(self, before: etree._Element, session_id: int) -> None:
        """An edit of ``session_id`` was written without fsync; ``before`` is running
        as it was (the durable tree, if it is the first such edit)."""
        if self.durable is None:
            self.durable = before
        self.waiting.add(session_id)

    def synced(self) -> None:
        """Everything written is durable now (a sync, or a synchronous save)."""
        self.durable = None
        self.waiting.clear()

    def failed(self, reason: str) -> etree._Element:
        """The fsync failed: the waiting sessions' edits are lost; the tree to restore."""
        durable, self.durable = self.durable, None
        assert durable is not None
        for sid in self.waiting:
            self.lost[sid] = reason
        self.waiting.clear()
        return durable

    def check(self, session_id: int, reason: str | None) -> None:
        """Raise for ``session_id`` if its edit was lost, or if this very sync failed."""
        lost = self.lost.pop(session_id, None)
        why = lost or reason
        if why is not None:
            raise RpcError(
                ErrorTag.OPERATION_FAILED,
                f"the running datastore could not be made durable, the edit is undone: {why}",
            )

    def forget(self, session_id: int) -> None:
        """A session ended: nothing more to tell it."""
        self.lost.pop(session_id, None)
