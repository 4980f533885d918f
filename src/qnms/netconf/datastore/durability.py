"""Running made durable: its writes to disk and the group commit's one fsync (issue 13).

``DatastoreManager`` holds the trees; this holds what of them is on disk and what is
not yet. Written apart from the manager because the rules are their own: an edit of
running from a session is written without fsync (``StateFiles.save(sync=False)``) and
joins the group (``GroupCommit``); ``sync`` before that session answers makes every
edit so far durable with one fsync, and a failed fsync puts running back to its last
durable tree (``restore_running``) and answers operation-failed to every session
whose edit was lost. Callers hold the manager's writer lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from lxml import etree

from qnms.netconf.datastore.checking import Store
from qnms.netconf.datastore.group_commit import GroupCommit
from qnms.netconf.datastore.storage import StateFiles
from qnms.yang.changes import ConfigChange
from qnms.yang.diff import diff
from qnms.yang.schema import Schema

log = logging.getLogger(__name__)


class Durability:
    """The datastores' files with running's group commit over them. ``restore`` puts
    running back to the durable tree it is given (after a failed fsync)."""

    def __init__(self, files: StateFiles, restore: Callable[[etree._Element], None]) -> None:
        self.files = files
        self.group = GroupCommit()  # edits of running waiting for their fsync
        self._restore = restore

    def save(
        self, name: str, tree: etree._Element, before: etree._Element, sid: int, durable: bool
    ) -> None:
        """Write ``tree``, the new content of running or startup (``before``: the old);
        unless ``durable``, an edit of running waits in the group for ``sync``."""
        if self.files.save(name, tree, sync=durable):
            self.group.deferred(before, sid)
        elif name == "running":
            self.group.synced()  # its fsync covered every earlier append

    @property
    def settled(self) -> bool:
        """Nothing waits for an fsync and no session is owed a failure: ``sync`` has
        nothing to do (read without the lock: a session asks only of its own edits)."""
        return not self.group.pending and not self.group.lost

    def sync(self, session_id: int) -> None:
        """Make every edit of running so far durable; ``RpcError`` if this session's
        edit was lost, or this fsync failed."""
        self.group.check(session_id, self.flush())

    def flush(self) -> str | None:
        """fsync what waits; why it failed (running is then restored), or None."""
        group = self.group
        if not group.pending:
            return None
        try:
            self.files.sync("running")
        except OSError as exc:
            log.error("running could not be made durable; edits undone: %s", exc)
            self._restore(group.failed(str(exc)))
            return str(exc)
        group.synced()
        return None

    def release(self, session_id: int) -> None:
        """A session ended: its unanswered edits durable now, or undone."""
        self.flush()
        self.group.forget(session_id)


def restore_running(
    schema: Schema, stores: dict[str, Store], durable: etree._Element, follow: bool
) -> list[ConfigChange]:
    """Running back to ``durable`` after a failed group fsync (the journal holds it
    already), and the candidate too if it ``follow``s running; the changes to publish
    (the server's own change, heard by the listeners like any other)."""
    run = stores["running"]
    changes = diff(schema, run.tree, durable)
    run.tree, run.roots, run.checked = durable, None, True
    if follow:
        cand = stores["candidate"]
        cand.tree, cand.roots, cand.checked = durable, None, True
    return [c.public() for c in changes]
