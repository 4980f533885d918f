"""The orchestrator's memory: intent, state and per-agent allocations in SQLite.

One file (``orchestrator.db``) under the state directory, in WAL mode so a reader
never waits for a writer and a crash loses at most the transaction in flight. The
intent itself is also in the northbound running datastore (which persists on every
commit); the store keeps the orchestrator's decisions that are in no datastore: the
unit's state, identifier, path, QUIs, and exactly what was written on which agent,
which is what a restart needs to release or check a unit later.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from qnms.orchestrator.lifecycle import UnitRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS unit (
    name TEXT PRIMARY KEY,
    intent TEXT NOT NULL,
    state TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS allocation (
    unit TEXT NOT NULL,
    agent TEXT NOT NULL,
    apply_xml TEXT NOT NULL,
    remove_xml TEXT NOT NULL,
    PRIMARY KEY (unit, agent)
);
"""


class Store:
    """A small synchronous SQLite store; every call is its own transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)

    def save(self, rec: UnitRecord, intent: str) -> None:
        """Write a unit's record and its allocations (replacing what was there)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO unit (name, intent, state, record) VALUES (?,?,?,?)",
                    (rec.name, intent, rec.state.value, json.dumps(rec.to_json())),
                )
                self._db.execute("DELETE FROM allocation WHERE unit = ?", (rec.name,))
                self._db.executemany(
                    "INSERT INTO allocation VALUES (?,?,?,?)",
                    [(rec.name, e.agent, e.apply_xml, e.remove_xml) for e in rec.edits],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def delete(self, name: str) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM allocation WHERE unit = ?", (name,))
            self._db.execute("DELETE FROM unit WHERE name = ?", (name,))
            self._db.execute("COMMIT")

    def load(self) -> dict[str, tuple[UnitRecord, str]]:
        """{name: (record, intent fingerprint)} of every stored unit."""
        with self._lock:
            rows = self._db.execute("SELECT name, intent, record FROM unit").fetchall()
        return {name: (UnitRecord.from_json(json.loads(rec)), intent) for name, intent, rec in rows}

    def allocations(self, name: str) -> list[tuple[str, str]]:
        """(agent, applied XML) of a unit, for inspection and check-sync."""
        with self._lock:
            rows = self._db.execute(
                "SELECT agent, apply_xml FROM allocation WHERE unit = ? ORDER BY agent", (name,)
            ).fetchall()
        return [(a, x) for a, x in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
