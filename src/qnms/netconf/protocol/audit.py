"""The audit log of committed changes (module qnms-audit; RFC 8341 section 3.7).

Every change applied to running (edit-config of running, commit, copy-config) becomes
one entry: id, time, user, session, source address and the changed nodes. Entries
are appended to ``audit.log`` (JSON lines, mode 0600) under the state directory,
never rewritten, and the most recent ones are served as config-false data at
``/qnms-audit:audit`` (``default-deny-all``: administrators only).
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from qnms.netconf.datastore.storage import private_dir

if TYPE_CHECKING:
    from qnms.yang.changes import ConfigChange

log = logging.getLogger(__name__)
AUDIT_NS = "urn:qnms:yang:qnms-audit"
_A = f"{{{AUDIT_NS}}}"
FILE_NAME = "audit.log"


class AuditLog:
    """Appends entries to a file and keeps the last ``keep`` for ``<get>``."""

    def __init__(
        self,
        directory: Path | None,
        who: Callable[[int], tuple[str, str]],  # session id -> (user, source host)
        keep: int = 1000,
    ) -> None:
        self.path = directory / FILE_NAME if directory is not None else None
        self.who = who
        self.entries: deque[dict[str, Any]] = deque(maxlen=keep)
        self.next_id = 1
        self._dir_ready = False  # the directory was made private once (not per commit)
        if self.path is not None and self.path.exists():
            self._load(self.path)

    def _load(self, path: Path) -> None:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    log.warning("%s: skipping a damaged line", path)
                    continue
                self.entries.append(_packed(entry))
                self.next_id = max(self.next_id, int(entry.get("id", 0)) + 1)

    def record(self, changes: list[ConfigChange], session_id: int) -> None:
        """A change listener of the running datastore."""
        if not changes:
            return
        user, host = self.who(session_id)
        entry = {
            "id": self.next_id,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "user": user,
            "session": session_id,
            "host": host,
            "edits": [
                {"target": c.target, "operation": c.operation, "nsmap": c.nsmap} for c in changes
            ],
        }
        self.next_id += 1
        packed = _packed(entry)
        self.entries.append(packed)
        if self.path is not None:
            self._append(self.path, packed)
        log.info("audit %d: %s (session %d from %s) changed %s", entry["id"], user,
                 session_id, host, ", ".join(c.target for c in changes[:5]))  # fmt: skip

    def _append(self, path: Path, entry: dict[str, Any]) -> None:
        if not self._dir_ready:  # stat of every ancestor: ~15% of a small edit (issue 13)
            private_dir(path.parent)
            self._dir_ready = True
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        try:
            fd = os.open(path, flags, 0o600)
        except FileNotFoundError:  # the directory went away since: make it again
            private_dir(path.parent)
            fd = os.open(path, flags, 0o600)
        data = memoryview(_line(entry).encode())
        try:
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)

    def state(self) -> list[etree._Element]:
        """``/qnms-audit:audit`` with the kept entries."""
        root = etree.Element(_A + "audit", nsmap={None: AUDIT_NS})
        for e in self.entries:
            entry = etree.SubElement(root, _A + "entry")
            etree.SubElement(entry, _A + "id").text = str(e["id"])
            etree.SubElement(entry, _A + "time").text = e["time"]
            etree.SubElement(entry, _A + "user-name").text = e["user"]
            etree.SubElement(entry, _A + "session-id").text = str(e["session"])
            etree.SubElement(entry, _A + "source-host").text = e["host"]
            for i, edit in enumerate(json.loads(e["edits"])):
                el = etree.SubElement(entry, _A + "edit")
                etree.SubElement(el, _A + "index").text = str(i)
                etree.SubElement(el, _A + "target").text = edit["target"]
                etree.SubElement(el, _A + "operation").text = edit["operation"]
        return [root]


def _line(packed: dict[str, Any]) -> str:
    """The JSON line of a packed entry, its edits JSON as they are (not encoded twice)."""
    head = json.dumps({k: v for k, v in packed.items() if k != "edits"}, separators=(",", ":"))
    return f'{head[:-1]},"edits":{packed["edits"]}}}\n'


def _packed(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as kept in memory: its edits as one JSON string, decoded when read.
    A 20,000-entry edit's list of dicts was 13 MB of small objects that, scattered over
    the heap, kept the agent's RSS 90 MB up after the entries were deleted (issue 13);
    one string is one block, freed whole when the entry leaves the window."""
    return {**entry, "edits": json.dumps(entry.get("edits", []), separators=(",", ":"))}
