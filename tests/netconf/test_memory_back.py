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
import time
import tracemalloc

from support.servers import EX_NS, connect

from qnms.netconf.datastore import memory

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


def test_a_big_message_schedules_one_trim_until_it_runs(monkeypatch):
    scheduled: list[float] = []
    monkeypatch.setattr(memory, "_pending", False)
    memory.after_message(lambda delay, fn: scheduled.append(delay), 1000)
    assert scheduled == []
    for _ in range(3):  # a burst of big messages: one trim for all
        memory.after_message(lambda delay, fn: scheduled.append(delay), memory.TRIM_BYTES)
    assert scheduled == [memory.TRIM_DELAY]
    memory.trim()
    memory.after_message(lambda delay, fn: scheduled.append(delay), memory.TRIM_BYTES)
    assert scheduled == [memory.TRIM_DELAY] * 2
    memory.trim()
