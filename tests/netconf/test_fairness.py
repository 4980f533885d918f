"""Fair service under abuse (issue 9): one session's expensive request does not freeze
the others; XPath filters have a budget; a periodic subscription that cannot keep its
period is suspended.

The trees are small enough for the tests to stay fast, and the timing assertions are
relative (the well-behaved request finishes while the heavy one still runs), so they
hold on a loaded two-core machine.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree
from ncclient.operations import RPCError
from support.push import EX, SN, collect, datastore_sub, establish, periodic
from support.servers import FIXTURES, ServerThread, connect

from qnms.netconf.datastore.manager import DatastoreManager
from qnms.yang import xpath_cost

HEAVY = "//*[count(//*)>0]"  # n^2 node visits
HEAVIER = "//*[count(//*[count(//*)>0])>0]"  # n^3
ONE_NODE = f'<network xmlns="{EX}"><node><name>n00000</name></node></network>'


def network(nodes: int) -> etree._Element:
    """``<network>`` with ``nodes`` list entries (four data nodes each)."""
    q = f"{{{EX}}}"
    net = etree.Element(q + "network", nsmap={None: EX})
    for i in range(nodes):
        node = etree.SubElement(net, q + "node")
        etree.SubElement(node, q + "name").text = f"n{i:05d}"
        etree.SubElement(node, q + "memory-count").text = "4"
        etree.SubElement(node, q + "role").text = "repeater"
    return net


@pytest.fixture
def big_server(server_factory: Callable[..., ServerThread]) -> Callable[..., ServerThread]:
    """A server whose running datastore holds ``nodes`` nodes; options as keywords."""

    def make(nodes: int, **opts: Any) -> ServerThread:
        ds = DatastoreManager.for_tests(FIXTURES, initial=network(nodes))
        return server_factory(ds, **{"offload": True, **opts})  # one server: workers on

    return make


def in_rpcs(st: ServerThread) -> int:
    return st.call(lambda: sum(s.record.in_rpcs for s in st.server.sessions.values()))


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def app_tag(err: RPCError) -> str | None:
    el = err.xml if isinstance(err.xml, etree._Element) else etree.fromstring(err.xml)
    return el.findtext("{urn:ietf:params:xml:ns:netconf:base:1.0}error-app-tag")


# -- the cost estimate ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("select", "degree"),
    [
        ("/en:network/en:node[en:name='a']", 1),
        ("//en:node[en:role='repeater']", 1),
        ("/a/b[c = /a/d/e]", 1),  # a join along a path, not a document walk
        ("//*[count(//*)>0]", 2),
        ("//*[count(descendant::*) > 1]", 2),
        ("//*[count(//*[count(//*)>0])>0]", 3),
        ("//*[name() = '//x[//y]']", 1),  # inside a string literal: nothing walks
    ],
)
def test_xpath_degree_counts_nested_document_walks(select: str, degree: int) -> None:
    assert xpath_cost.degree(select) == degree


# -- get-config under a heavy XPath ------------------------------------------------------


def test_well_behaved_get_config_is_served_while_another_session_runs_a_heavy_xpath(
    big_server: Callable[..., ServerThread],
) -> None:
    st = big_server(1500, xpath_time_budget=None, xpath_max_cost=None)
    with connect(st.port) as heavy, connect(st.port) as good:
        good.get_config("running", filter=("subtree", ONE_NODE))  # warm
        before = in_rpcs(st)
        done = threading.Event()
        outcome: list[Any] = []

        def abuse() -> None:
            try:
                outcome.append(heavy.get_config("running", filter=("xpath", HEAVY)))
            except Exception as exc:  # reported by the assertion below
                outcome.append(exc)
            done.set()

        threading.Thread(target=abuse, daemon=True).start()
        wait_until(lambda: in_rpcs(st) > before)  # the heavy request has arrived
        start = time.monotonic()
        reply = good.get_config("running", filter=("subtree", ONE_NODE))
        took = time.monotonic() - start
        heavy_still_running = not done.is_set()
        assert reply.data_ele.findtext(f".//{{{EX}}}name") == "n00000"
        assert heavy_still_running, "the heavy XPath finished first: make the tree bigger"
        assert took < 2.0
        assert done.wait(120)
        assert not isinstance(outcome[0], Exception), outcome[0]


def test_xpath_over_its_time_budget_answers_operation_failed_with_app_tag(
    big_server: Callable[..., ServerThread],
) -> None:
    st = big_server(1500, xpath_time_budget=0.05, xpath_max_cost=None)
    with connect(st.port) as m:
        start = time.monotonic()
        with pytest.raises(RPCError) as exc:
            m.get_config("running", filter=("xpath", HEAVY))
        assert exc.value.tag == "operation-failed"
        assert app_tag(exc.value) == xpath_cost.APP_TAG
        assert "too expensive" in exc.value.message
        assert time.monotonic() - start < 30
        # the session goes on: its next request is answered (after the abandoned one)
        reply = m.get_config("running", filter=("subtree", ONE_NODE))
        assert reply.data_ele.findtext(f".//{{{EX}}}name") == "n00000"


def test_xpath_estimated_over_budget_is_refused_without_evaluating(
    big_server: Callable[..., ServerThread],
) -> None:
    st = big_server(300, xpath_max_cost=1e6)
    with connect(st.port) as m:
        start = time.monotonic()
        with pytest.raises(RPCError) as exc:
            m.get(filter=("xpath", HEAVIER))  # ~1e10 visits: would run for minutes
        assert time.monotonic() - start < 5
        assert exc.value.tag == "operation-failed"
        assert app_tag(exc.value) == xpath_cost.APP_TAG
        ok = m.get_config("running", filter=("xpath", "/network/node[name='n00001']"))
        assert ok.data_ele.findtext(f".//{{{EX}}}name") == "n00001"


# -- periodic subscriptions ----------------------------------------------------------------


def test_periodic_subscription_that_cannot_keep_its_period_is_suspended(
    big_server: Callable[..., ServerThread],
) -> None:
    st = big_server(400, xpath_time_budget=None, xpath_max_cost=None)
    with connect(st.port) as sub, connect(st.port) as good:
        sid = establish(sub, datastore_sub(None, periodic(1), datastore="ds:running",
                                           xpath=HEAVY))  # fmt: skip

        def suspended(notes: list[Any]) -> bool:
            return any(n.kind == "subscription-suspended" for n in notes)

        notes = collect(sub, suspended, timeout=30)
        assert suspended(notes)
        note = next(n for n in notes if n.kind == "subscription-suspended")
        assert note.id == sid
        assert note.body.findtext(f"{{{SN}}}reason") == "yp:period-unsupported"
        reply = good.get_config("running", filter=("subtree", ONE_NODE))  # others served
        assert reply.data_ele.findtext(f".//{{{EX}}}name") == "n00000"
        state = good.get(filter=("subtree", f'<subscriptions xmlns="{SN}"/>')).data_ele
        entry = next(e for e in state.iter(f"{{{SN}}}subscription")
                     if e.findtext(f"{{{SN}}}id") == str(sid))  # fmt: skip
        assert entry.findtext(f".//{{{SN}}}state") == "suspended"


def test_periodic_subscription_with_an_over_budget_xpath_is_refused_at_establish(
    big_server: Callable[..., ServerThread],
) -> None:
    st = big_server(300, xpath_max_cost=1e6)
    with connect(st.port) as m:
        with pytest.raises(RPCError) as exc:
            establish(m, datastore_sub(None, periodic(1), xpath=HEAVIER))
        assert exc.value.tag == "resource-denied"
        info = etree.tostring(exc.value.xml if isinstance(exc.value.xml, etree._Element)
                              else etree.fromstring(exc.value.xml)).decode()  # fmt: skip
        assert "insufficient-resources" in info
        assert "too expensive" in info  # the filter-failure-hint says why


# -- the datastore's writer lock ------------------------------------------------------------


def test_loop_side_write_during_a_worker_edit_does_not_deadlock() -> None:
    """A worker holding the writer lock waits for its write check to run on the loop; a
    loop-side write (discard-changes) waiting for that lock runs the check meanwhile."""
    ds = DatastoreManager.for_tests(FIXTURES, initial=network(1))
    checked: list[str] = []
    ds.write_checks.append(lambda name, old, new, sid: checked.append(name))
    edit = etree.fromstring(
        f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><network xmlns="{EX}">'
        "<node><name>n2</name><memory-count>2</memory-count></node></network></config>"
    )

    async def scenario() -> None:
        ds.bind_loop(asyncio.get_running_loop())
        worker = asyncio.ensure_future(
            asyncio.to_thread(ds.edit_config, "running", edit, session_id=1)
        )
        await asyncio.sleep(0)  # let the worker start
        deadline = time.monotonic() + 10
        while not ds._bridge._waiting:  # the worker now waits for the loop, lock held
            assert time.monotonic() < deadline, "the worker never reached its check"
            time.sleep(0.001)
        ds.discard_changes(session_id=2)  # blocks on the lock, on the loop's thread
        await worker

    runner = threading.Thread(target=lambda: asyncio.run(scenario()), daemon=True)
    runner.start()
    runner.join(20)
    assert not runner.is_alive(), "deadlock: loop and worker wait for each other"
    assert checked == ["running"]
    assert ds.get_config("running").find(f".//{{{EX}}}node[{{{EX}}}name='n2']") is not None
