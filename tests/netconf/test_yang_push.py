"""RFC 8641 YANG-Push through ncclient: periodic and on-change datastore subscriptions."""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree
from support.polling import wait_until
from support.push import (
    COUNTERS,
    EX,
    NODES,
    SN,
    YP,
    LiveState,
    collect,
    counter_value,
    datastore_sub,
    edits,
    establish,
    on_change,
    periodic,
    rpc,
    take,
    yanglint,
)
from support.servers import ServerThread, connect

NODE_A = (
    f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><network xmlns="{EX}">'
    "<node><name>a</name><memory-count>{n}</memory-count></node></network></config>"
)
DELETE_A = (
    '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" '
    'xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">'
    f'<network xmlns="{EX}"><node nc:operation="delete"><name>a</name></node></network></config>'
)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_periodic_ten_updates_in_two_seconds(push_server: ServerThread, live: LiveState) -> None:
    with connect(push_server.port) as m:
        sid = establish(m, datastore_sub())  # period 10 centiseconds
        t0 = time.monotonic()
        notes = collect(m, lambda ns: len(ns) >= 10, timeout=2.0)
        assert len(notes) >= 10 and notes[9].arrived - t0 <= 2.0
        assert {n.kind for n in notes} == {"push-update"} and {n.id for n in notes} == {sid}
        times = [_time(n.event_time) for n in notes]
        assert all(a < b for a, b in itertools.pairwise(times))
        # the updates carry the live state, and follow it
        assert counter_value(notes[-1]) == "0"
        uptimes = [int(n.body.findtext(f".//{{{EX}}}uptime")) for n in notes]
        assert uptimes == sorted(uptimes) and uptimes[-1] > uptimes[0]
        live.counters["pairs"] = 7
        later = collect(m, lambda ns: any(counter_value(n) == "7" for n in ns), timeout=1.0)
        assert counter_value(later[-1]) == "7"


@pytest.mark.interop  # yanglint judges what arrives
def test_on_change_after_edit_config(push_server: ServerThread, tmp_path: Path) -> None:
    with connect(push_server.port) as m, connect(push_server.port) as editor:
        editor.edit_config(target="running", config=NODE_A.format(n=2).replace(">a<", ">b<"))
        sid = establish(m, datastore_sub(NODES, on_change(dampening=50)))  # 0.5 s
        sync = take(m)
        assert sync is not None and sync.kind == "push-update" and sync.id == sid
        for op, text, expect in (
            ("create", NODE_A.format(n=4), ("create", "/example-net:network/node=a")),
            ("replace", NODE_A.format(n=8),
             ("replace", "/example-net:network/node=a/memory-count")),
            ("delete", DELETE_A, ("delete", "/example-net:network/node=a")),
        ):  # fmt: skip
            editor.edit_config(target="running", config=text)
            t0 = time.monotonic()
            note = take(m, timeout=2)
            assert note is not None and note.kind == "push-change-update", op
            assert note.arrived - t0 < 0.5 + 0.1  # within the dampening period
            (got,) = edits(note)
            assert got[:2] == expect
            if op == "create":
                assert got[2].findtext(f"{{{EX}}}memory-count") == "4"
            if op == "replace":
                assert got[2].text == "8"
            yanglint("nc-notif", note.raw.encode(), tmp_path)


def test_on_change_state_changed_and_dampening(push_server: ServerThread, live: LiveState) -> None:
    with connect(push_server.port) as m:
        establish(m, datastore_sub(COUNTERS, on_change(dampening=0)))
        assert take(m).kind == "push-update"
        live.counters["pairs"] = 1
        push_server.server.state_changed()  # what an agent calls; from any thread
        t0 = time.monotonic()
        note = take(m)
        assert note.kind == "push-change-update" and time.monotonic() - t0 < 0.2
        assert edits(note) == [("replace", "/example-net:network/statistics/counter=pairs/value",
                                edits(note)[0][2])]  # fmt: skip
        assert edits(note)[0][2].text == "1"
        # a new list entry is a create; dampening merges a burst into one patch
        sid = establish(m, datastore_sub(COUNTERS, on_change(dampening=30)))
        assert take(m).kind == "push-update"
        for i in range(2, 6):
            live.counters["pairs"] = i
            live.counters["swaps"] = i
            push_server.server.state_changed()
            time.sleep(0.02)  # behaviour under test: a burst spread over 80 ms, one patch
        notes = collect(m, lambda ns: any(n.id == sid for n in ns), timeout=1.0)
        mine = [n for n in notes if n.id == sid]
        assert len(mine) == 1
        ops = {(op, target) for op, target, _ in edits(mine[0])}
        stats = "/example-net:network/statistics"
        assert ops == {("create", f"{stats}/counter=swaps"),
                       ("replace", f"{stats}/counter=pairs/value")}  # fmt: skip
        value = next(v for op, _, v in edits(mine[0]) if op == "replace")
        assert value.text == "5"


def test_on_change_polls_silent_state(push_factory: type, live: LiveState, tmp_path: Path) -> None:
    """State that changes without state_changed() is found at the poll interval."""
    server = push_factory(on_change_poll=0.1)
    with connect(server.port) as m:
        establish(
            m,
            datastore_sub(COUNTERS, on_change(extra="<yp:sync-on-start>false</yp:sync-on-start>")),
        )
        live.counters["pairs"] = 3
        note = take(m, timeout=1.0)
        assert note is not None and note.kind == "push-change-update"
        assert edits(note)[0][2].text == "3"


def test_excluded_change_and_xpath(push_server: ServerThread, live: LiveState) -> None:
    with connect(push_server.port) as m:
        extra = ("<yp:sync-on-start>false</yp:sync-on-start>"
                 "<yp:excluded-change>create</yp:excluded-change>")  # fmt: skip
        establish(m, datastore_sub(xpath="/en:network/en:statistics/en:counter",
                                   trigger=on_change(extra=extra)))  # fmt: skip
        live.counters["swaps"] = 1  # a create: excluded
        # on the server's loop, then one more turn of it: the evaluation this scheduled has
        # run before the next change (else both could coalesce into one excluded create)
        push_server.call(push_server.server.state_changed)
        push_server.call(lambda: None)
        assert take(m, timeout=0.3) is None
        live.counters["swaps"] = 2  # a replace: reported
        push_server.server.state_changed()
        note = take(m)
        assert [e[:2] for e in edits(note)] == [
            ("replace", "/example-net:network/statistics/counter=swaps/value")
        ]


def test_delete_stops_updates_others_continue(push_server: ServerThread) -> None:
    with connect(push_server.port) as m:
        a = establish(m, datastore_sub())
        b = establish(m, datastore_sub(trigger=periodic(5)))
        notes = collect(m, lambda ns: {a, b} <= {n.id for n in ns})
        assert {a, b} <= {n.id for n in notes}
        rpc(m, "delete-subscription", a)
        assert wait_until(lambda: set(push_server.server.subscriptions.subs) == {b})
        while take(m, timeout=0.01) is not None:  # drain what was sent before the reply
            pass
        notes = collect(m, lambda ns: False, timeout=0.5)
        assert notes and {n.id for n in notes} == {b}
        assert set(push_server.server.subscriptions.subs) == {b}


@pytest.mark.interop  # yanglint judges what arrives
def test_modify_and_resync(push_server: ServerThread, live: LiveState, tmp_path: Path) -> None:
    with connect(push_server.port) as m:
        sid = establish(m, datastore_sub(trigger=periodic(100)))
        assert take(m).kind == "push-update"  # the first one comes at once
        rpc(m, "modify-subscription", sid, body=(
            f'<datastore xmlns="{YP}" xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores">'
            f'ds:operational</datastore><datastore-subtree-filter xmlns="{YP}">{COUNTERS}'
            f'</datastore-subtree-filter><periodic xmlns="{YP}"><period>5</period></periodic>'
        ))  # fmt: skip
        notes = collect(m, lambda ns: len(ns) >= 5, timeout=1.0)
        assert notes[0].kind == "subscription-modified" and notes[0].id == sid
        assert notes[0].body.findtext(f".//{{{YP}}}period") == "5"
        yanglint("nc-notif", notes[0].raw.encode(), tmp_path)
        yanglint("nc-notif", notes[1].raw.encode(), tmp_path)
        assert all(n.kind == "push-update" for n in notes[1:5])
        assert notes[4].arrived - notes[1].arrived < 0.5  # now every 50 ms
        assert notes[-1].body.find(f".//{{{EX}}}uptime") is None  # the new filter
        oc = establish(m, datastore_sub(COUNTERS, on_change()))
        rpc(m, "delete-subscription", sid)
        assert collect(m, lambda ns: any(n.id == oc for n in ns))[-1].kind == "push-update"
        rpc(m, "resync-subscription", oc, ns=YP)
        # (updates of the deleted subscription sent before its delete reply may precede)
        note = collect(m, lambda ns: any(n.id == oc for n in ns))[-1]
        assert note.kind == "push-update" and note.id == oc and counter_value(note) == "0"


@pytest.mark.interop  # yanglint judges what arrives
def test_state_yang_library_and_capabilities(push_server: ServerThread, tmp_path: Path) -> None:
    yl = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
    with connect(push_server.port) as m:
        caps = list(m.server_capabilities)
        assert any(f"{SN}?module=ietf-subscribed-notifications&revision=2019-09-09"
                   "&features=encode-xml,subtree,xpath" == c for c in caps)  # fmt: skip
        assert f"{YP}?module=ietf-yang-push&revision=2019-09-09&features=on-change" in caps
        assert not any("configured" in c for c in caps)
        lib = m.get(filter=("subtree", f'<yang-library xmlns="{yl}"/>')).data
        q = f"{{{yl}}}"
        feats = {mod.findtext(q + "name"): [f.text for f in mod.iterfind(q + "feature")]
                 for mod in lib.iter(q + "module")}  # fmt: skip
        assert feats["ietf-yang-push"] == ["on-change"]
        assert feats["ietf-subscribed-notifications"] == ["encode-xml", "subtree", "xpath"]
        assert "qnms-subscription-stats" in feats
        imports = {e.findtext(q + "name") for e in lib.iter(q + "import-only-module")}
        assert {"ietf-yang-patch", "ietf-restconf", "ietf-network-instance"} <= imports
        sid = establish(m, datastore_sub())
        oc = establish(m, datastore_sub(COUNTERS, on_change(7)))
        state = m.get(filter=f'<filter type="subtree"><subscriptions xmlns="{SN}"/>'
                      f'<streams xmlns="{SN}"/></filter>')  # fmt: skip
        data = state.data
        ids = [e.text for e in data.iterfind(f".//{{{SN}}}subscription/{{{SN}}}id")]
        assert ids == [str(sid), str(oc)]
        assert data.findtext(f".//{{{SN}}}stream/{{{SN}}}name") == "NETCONF"
        assert data.findtext(f".//{{{YP}}}dampening-period") == "7"
        assert data.findtext(f".//{{{SN}}}receiver/{{{SN}}}state") == "active"
        payload = b"".join(etree.tostring(c) for c in data)
        yanglint("get", payload, tmp_path)
