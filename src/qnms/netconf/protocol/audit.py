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
import zlib
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _json_str  # json.dumps's, in C
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape as xml_escape

from lxml import etree

from qnms.netconf.datastore.descriptors import KEPT
from qnms.netconf.datastore.storage import private_dir
from qnms.yang.tree import parse_own

if TYPE_CHECKING:
    from qnms.yang.changes import ConfigChange

log = logging.getLogger(__name__)
AUDIT_NS = "urn:qnms:yang:qnms-audit"
_A = f"{{{AUDIT_NS}}}"
FILE_NAME = "audit.log"
PACK_LIMIT = 64 * 1024  # characters of an entry's edits kept compressed from this size on
_LINE = json.JSONEncoder(separators=(",", ":"))  # for every line: json.dumps builds one per call


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
        head = {
            "id": self.next_id,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "user": user,
            "session": session_id,
            "host": host,
        }
        self.next_id += 1
        targets = [c.target for c in changes]
        edits = _packed_edits(targets, [c.operation for c in changes])
        self.entries.append({**head, "edits": edits})
        if self.path is not None:
            self._append(self.path, _json_line(head, changes))
        if log.isEnabledFor(logging.INFO):  # the targets joined for nobody: not per edit
            log.info("audit %d: %s (session %d from %s) changed %s", head["id"], user,
                     session_id, host, ", ".join(targets[:5]))  # fmt: skip

    def _append(self, path: Path, line: str) -> None:
        if not self._dir_ready:  # stat of every ancestor: ~15% of a small edit (issue 13)
            private_dir(path.parent)
            self._dir_ready = True
        fd = KEPT.take(path)  # kept open between entries (``descriptors``)
        if fd is None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
            try:
                fd = os.open(path, flags, 0o600)
            except FileNotFoundError:  # the directory went away since: make it again
                private_dir(path.parent)
                fd = os.open(path, flags, 0o600)
        data = memoryview(line.encode())
        try:
            while data:
                data = data[os.write(fd, data) :]
        except BaseException:
            os.close(fd)
            raise
        KEPT.put(path, fd)

    def state(self) -> list[etree._Element]:
        """``/qnms-audit:audit`` with the kept entries, written as text and parsed by lxml
        (in C): an entry of a 20,000-entry edit built element by element cost ~0.2 s of
        every ``<get>`` (issue 13); its edits are kept as text already (``_packed``)."""
        parts = [f'<audit xmlns="{AUDIT_NS}">']
        for e in self.entries:
            parts.append(
                f"<entry><id>{int(e['id'])}</id><time>{_x(e['time'])}</time>"
                f"<user-name>{_x(e['user'])}</user-name>"
                f"<session-id>{int(e['session'])}</session-id>"
                f"<source-host>{_x(e['host'])}</source-host>{_edits(e)}</entry>"
            )
        parts.append("</audit>")
        return [parse_own("".join(parts))]


def _x(value: object) -> str:
    """``value`` as XML character data."""
    return xml_escape(str(value))


def _packed(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as kept in memory: its edits as one string, the ``<edit>`` elements of
    its state. A 20,000-entry edit's list of dicts was 13 MB of small objects that,
    scattered over the heap, kept the agent's RSS 90 MB up after the entries were
    deleted (issue 13); one string is one block, freed whole when the entry leaves the
    window, and a ``<get>`` pastes it as it is. A big one is kept compressed (zlib, in
    C): the edits of a 20,000-entry edit and its delete were 6 MB, 10% of an agent."""
    listed = entry.get("edits", [])
    targets = [str(edit.get("target", "")) for edit in listed]
    operations = [str(edit.get("operation", "")) for edit in listed]
    return {**entry, "edits": _packed_edits(targets, operations)}


def _packed_edits(targets: list[str], operations: list[str]) -> str | bytes:
    """The ``<edit>`` elements of an entry's edits as one string, compressed from
    ``PACK_LIMIT`` characters on (see ``_packed``)."""
    targets = _escaped(targets)
    escaped = {op: xml_escape(op) for op in set(operations)}  # a handful of operations
    operations = [escaped[op] for op in operations]
    edits = "".join(
        f"<edit><index>{i}</index><target>{t}</target><operation>{o}</operation></edit>"
        for i, (t, o) in enumerate(zip(targets, operations, strict=True))
    )
    return zlib.compress(edits.encode(), 1) if len(edits) >= PACK_LIMIT else edits


def _json_line(head: dict[str, Any], changes: list[ConfigChange]) -> str:
    """The entry's line in ``audit.log``: ``json.dumps`` of ``head`` with its edits
    (each a target, an operation and a namespace map), byte for byte, built from the
    strings the C encoder escapes (the edits of a 20,000-entry edit as 20,000 dicts
    for ``json.dumps`` took twice as long); a namespace map shared by many edits is
    encoded once."""
    nsmaps: dict[int, str] = {}
    parts = []
    for c in changes:
        nsmap = nsmaps.get(id(c.nsmap))
        if nsmap is None:
            nsmap = nsmaps[id(c.nsmap)] = _LINE.encode(c.nsmap)
        parts.append(
            f'{{"target":{_json_str(c.target)},"operation":{_json_str(c.operation)},'
            f'"nsmap":{nsmap}}}'
        )
    start = _LINE.encode(head)[:-1]  # the object still open
    return f'{start},"edits":[{",".join(parts)}]}}\n'


def _escaped(values: list[str]) -> list[str]:
    """``values`` as XML character data, escaped in one pass over their join (three C
    replaces instead of three per value: a 20,000-entry edit's 40,000 calls were a third
    of its audit record). NUL cannot occur in XML text, so it separates them safely."""
    if len(values) >= 16:
        parts = xml_escape("\0".join(values)).split("\0")
        if len(parts) == len(values):  # else a value held a NUL after all
            return parts
    return [xml_escape(v) for v in values]


def _edits(entry: dict[str, Any]) -> str:
    """The ``<edit>`` elements of a packed entry, as text."""
    edits = entry["edits"]
    return zlib.decompress(edits).decode() if isinstance(edits, bytes) else edits
