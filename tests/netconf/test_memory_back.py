"""Memory given back after a big edit and its delete (issue 13).

After 20,000 entries were added and deleted an agent's RSS stayed 25% up: an idle
session kept its last request's tree and its last reply (a 6 MB ``<get>``) alive, and
the state memo the stable state of the deleted entries. These tests fail when such a
retention comes back: what the server's code allocated and still holds after an add, a
delete and a full ``<get>`` is bounded (tracemalloc, which sees Python's allocations:
the reply and the request bytes, which the session dropped together with the request's
tree). (A walk of ``gc.get_objects()`` looking for the trees themselves, tried first,
crashed the interpreter in a later test.)
"""

from __future__ import annotations

import gc
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

import pytest
from lxml import etree
from support.servers import EX_NS, connect

from qnms.netconf.datastore import memory
from qnms.netconf.datastore.manager import DatastoreManager
from qnms.network.inventory import load_network
from qnms.yang import restrictions
from qnms.yang import schema as schema_tables
from qnms.yang.codec import json_to_xml
from qnms_agents.base import initial_config, stratum_schema

ENTRIES = 2000
NET = f'<config><network xmlns="{EX_NS}">{{}}</network></config>'


def nodes(op: str = "") -> str:
    attr = f' xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="{op}"' if op else ""
    body = "".join(
        f"<node{attr}><name>bulk-{i:05d}</name>"
        + ("" if op else f"<memory-count>{1 + i % 64}</memory-count>")
        + "</node>"
        for i in range(ENTRIES)
    )
    return NET.format(body)


def held_by_server() -> int:
    """Bytes allocated since tracemalloc started, still live, by the server's code."""
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, "*/qnms/*")])
    return sum(stat.size for stat in snap.statistics("filename"))


def test_an_idle_session_holds_nothing_of_a_big_edit_its_delete_and_a_full_get(nc_server):
    with connect(nc_server.port) as m:
        m.get()  # first-call costs (caches, imports) are not what this measures
        tracemalloc.start()
        try:
            m.edit_config(target="running", config=nodes())
            assert len(m.get().data_ele.findall(f".//{{{EX_NS}}}node")) == ENTRIES
            m.edit_config(target="running", config=nodes("delete"))
            reply = m.get()  # the audit of both edits: a quarter of a megabyte
            assert len(reply.xml) > 200_000
            del reply
            time.sleep(0.2)  # the server's loop has sent the reply and gone idle
            gc.collect()
            held = held_by_server()
        finally:
            tracemalloc.stop()
    # what stays: the audit's two entries, compressed (~30 kB), and small objects
    assert held < 150_000, f"{held} bytes allocated by qnms code still held"


class Clock:
    """``memory.monotonic`` under the test's control."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_big_message_schedules_one_trim_until_it_runs_or_was_due(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(memory, "monotonic", clock, raising=False)
    monkeypatch.setattr(memory, "_due", 0.0, raising=False)
    scheduled: list[float] = []
    trims: list[Callable[[], None]] = []

    def later(delay: float, fn: Callable[[], None]) -> None:
        scheduled.append(delay)
        trims.append(fn)

    memory.after_message(later, 1000)
    assert scheduled == []
    for _ in range(3):  # a burst of big messages: one trim for all
        memory.after_message(later, memory.TRIM_BYTES)
    assert scheduled == [memory.TRIM_DELAY]
    trims[0]()
    memory.after_message(later, memory.TRIM_BYTES)  # the trim ran: the next one is due
    assert scheduled == [memory.TRIM_DELAY] * 2
    # That trim never runs (its loop closed first): once it was due, the next big
    # message schedules one again. (A flag cleared only by the trim would block for good.)
    clock.now += memory.TRIM_DELAY / 2
    memory.after_message(later, memory.TRIM_BYTES)
    assert scheduled == [memory.TRIM_DELAY] * 2
    clock.now += memory.TRIM_DELAY
    memory.after_message(later, memory.TRIM_BYTES)
    assert scheduled == [memory.TRIM_DELAY] * 3
    # the heap alone: a full collection after each of repeated big <get> costs CPU
    assert trims == [memory.trim_heap] * 3


def _free_tuples(capfd: pytest.CaptureFixture[str]) -> int:
    """Tuples of one item in the interpreter's free list (``sys._debugmallocstats``,
    which writes to the C-level stderr)."""
    capfd.readouterr()
    sys._debugmallocstats()
    found = re.search(r"(\d+) free 1-sized PyTupleObjects", capfd.readouterr().err)
    assert found is not None, "sys._debugmallocstats() no longer reports the free lists"
    return int(found.group(1))


def test_a_trim_empties_the_free_lists_that_a_big_edit_filled(capfd):
    """A big edit leaves up to 2,000 freed tuples per size in the free lists, spread
    over the new arenas, each block keeping its arena resident; only a full collection
    clears them."""
    gc.disable()  # no automatic full collection between filling and counting
    try:
        boxes = [(i,) for i in range(5000)]
        del boxes
        assert _free_tuples(capfd) > 1000
    finally:
        gc.enable()
    memory.trim()
    assert _free_tuples(capfd) < 100


def test_a_trim_lets_go_of_recent_attribute_names():
    """CPython's type cache holds a strong reference to the name of each recent
    attribute lookup: a name built per request (``"in-rpcs".replace("-", "_")``) stayed
    alive, and in a new arena, after the request."""

    class Counters:
        in_rpcs = 0

    name = "".join(["in_", "rpcs"])  # a fresh string, as a request builds one
    before = sys.getrefcount(name)
    getattr(Counters(), name)
    memory.trim()
    assert sys.getrefcount(name) == before


def test_a_trim_keeps_nothing_it_allocates():
    """Nothing made at the first trim (which runs just after a big change, when only
    the new arenas have room) is kept: the ``malloc_trim`` lookup is done at import.
    In a fresh process: the first trim of this one was run by other tests."""
    code = (
        "import gc, tracemalloc\n"
        "from qnms.netconf.datastore import memory\n"
        "tracemalloc.start(25)\n"
        "memory.trim()\n"
        "gc.collect()  # the free list's tuple of malloc_trim's call: freed, not kept\n"
        "snap = tracemalloc.take_snapshot().filter_traces(\n"
        "    [tracemalloc.Filter(True, memory.__file__, all_frames=True)])\n"
        "print(sum(t.size for t in snap.traces))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert int(out.stdout.split()[-1]) == 0, out.stdout


QFS = "urn:qnms:yang:qnms-quantum-fabric"


def links(n: int) -> etree._Element:
    """``n`` quantum links of madqci-r1 (the default network's QFS element), as the
    bench's bulk edit writes them."""
    body = "".join(
        f"<quantum-link><name>bulk-{i}</name><remote-node>node-{i}</remote-node>"
        f"<local-memory>mem0</local-memory><channel>ch-{i}</channel></quantum-link>"
        for i in range(n)
    )
    return etree.fromstring(
        f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><quantum-fabric '
        f'xmlns="{QFS}"><quantum-links>{body}</quantum-links></quantum-fabric></config>'
    )


def test_a_first_bulk_edit_builds_no_schema_tables():
    """The tables a bulk edit's checks keep per schema node are built with the
    datastores: built on first use, in the middle of the first big edit, each kept one
    of the arenas that edit added resident after its entries were deleted."""
    schema = stratum_schema("qfs")
    initial = json_to_xml(initial_config(load_network(), "qfs", "madqci-r1"), schema)
    schema_tables.sole_tags.cache_clear()
    restrictions.set_checker.cache_clear()
    manager = DatastoreManager(schema, initial=initial)
    built = (schema_tables.sole_tags.cache_info(), restrictions.set_checker.cache_info())
    assert built[0].currsize and built[1].currsize
    manager.edit_config("running", links(40), session_id=1)  # a batch: checked together
    after = (schema_tables.sole_tags.cache_info(), restrictions.set_checker.cache_info())
    assert after[1].hits > built[1].hits  # used (sole_tags too, unless the entries were
    # created together: their values are read as they are placed, datastore/bulk.py)
    assert (after[0].misses, after[1].misses) == (built[0].misses, built[1].misses)
