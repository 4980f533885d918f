"""RFC 8639 subscriptions over NETCONF (RFC 8640): streams, lifecycle, errors, slow readers."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from lxml import etree
from ncclient.operations import RPCError
from ncclient.xml_ import to_ele
from support.polling import await_until, wait_until
from support.push import (
    COUNTERS,
    EX,
    NCN,
    SN,
    STATS,
    UPTIME,
    YP,
    LiveState,
    collect,
    counter_value,
    datastore_sub,
    establish,
    on_change,
    periodic,
    rpc,
    stream_sub,
    take,
    yanglint,
)
from support.servers import (
    CLIENT_HELLO,
    PASSWORD,
    USER,
    ServerThread,
    connect,
)

from qnms.netconf.protocol.framing import FrameDecoder, encode_message

CONFIG = (
    f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><network xmlns="{EX}">'
    "<node><name>{name}</name><memory-count>2</memory-count></node></network></config>"
)
YL = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
SLOW_SUB = datastore_sub(f'<yang-library xmlns="{YL}"/>',
                         periodic(1))  # fmt: skip


def refused(m: Any, body: str) -> RPCError:
    with pytest.raises(RPCError) as exc:
        m.dispatch(to_ele(body))
    return exc.value


@pytest.mark.interop  # yanglint judges what arrives
def test_stream_subscription_with_filters(push_server: ServerThread, tmp_path: Path) -> None:
    with connect(push_server.port) as m, connect(push_server.port) as editor:
        flt = (
            f'<stream-subtree-filter><netconf-config-change xmlns="{NCN}"/></stream-subtree-filter>'
        )
        sid = establish(m, stream_sub(flt=flt))
        with connect(push_server.port):  # a session-start event: filtered out
            pass
        editor.edit_config(target="running", config=CONFIG.format(name="a"))
        note = take(m)
        assert note.kind == "netconf-config-change"
        q = f"{{{NCN}}}"
        assert note.body.findtext(f"{q}changed-by/{q}session-id") == editor.session_id
        sub = push_server.server.subscriptions.subs[sid]
        # counted once the write returns, on its thread
        assert wait_until(lambda: sub.sent >= 1, timeout=2)
        assert sub.excluded >= 2 and sub.sent == 1  # session start and end, not sent
        xflt = (
            f'<stream-xpath-filter xmlns:n="{NCN}">/n:netconf-session-start</stream-xpath-filter>'
        )
        xsid = establish(m, stream_sub(flt=xflt))
        with connect(push_server.port) as third:
            note = take(m)
        assert note.kind == "netconf-session-start"
        assert note.body.findtext(f"{{{NCN}}}session-id") == third.session_id
        state = m.get(filter=("subtree", f'<subscriptions xmlns="{SN}"/>')).data
        assert [e.text for e in state.iter(f"{{{SN}}}id")] == [str(sid), str(xsid)]
        yanglint("get", b"".join(etree.tostring(c) for c in state), tmp_path)


def test_errors_leave_nothing_behind(push_factory: Any) -> None:
    server = push_factory(max_update_size=4000, max_subscriptions_per_session=2)
    with connect(server.port) as m, connect(server.port) as other:
        yl = f'<yang-library xmlns="{YL}"/>'
        sn = "ietf-subscribed-notifications"
        cases = [
            (stream_sub("NOPE"), "invalid-value", f"{sn}:stream-unavailable"),
            (datastore_sub(trigger=periodic(0)),
             "invalid-value", "ietf-yang-push:period-unsupported"),
            (datastore_sub(datastore="ds:candidate"), "invalid-value",
             "ietf-yang-push:datastore-not-subscribable"),
            (datastore_sub(xpath="/en:network[", trigger=on_change()), "invalid-value",
             "ietf-subscribed-notifications:filter-unsupported"),
            (stream_sub(flt="<stream-xpath-filter>/x:y</stream-xpath-filter>"), "invalid-value",
             "ietf-subscribed-notifications:filter-unsupported"),
            (datastore_sub(extra=f'<encoding xmlns="{SN}">encode-json</encoding>'),
             "invalid-value", "ietf-subscribed-notifications:encoding-unsupported"),
            (datastore_sub(f'<network xmlns="{EX}"><statistics><uptime/></statistics></network>',
                           on_change()), "operation-not-supported",
             "ietf-yang-push:on-change-unsupported"),
            (datastore_sub(f'<network xmlns="{EX}"><no-such-node/></network>'),
             "operation-failed", "ietf-yang-push:unchanging-selection"),
            (datastore_sub(yl), "too-big", "ietf-yang-push:update-too-big"),
            (datastore_sub(yl, on_change()), "too-big", "ietf-yang-push:sync-too-big"),
        ]  # fmt: skip
        for body, tag, app_tag in cases:
            err = refused(m, body)
            assert (err.tag, err.app_tag) == (tag, app_tag), body
            assert server.server.subscriptions.subs == {}, body
        err = refused(m, datastore_sub(trigger=periodic(0)))
        info = etree.fromstring(err.info.encode())
        hint = info.find(f".//{{{YP}}}establish-subscription-datastore-error-info")
        assert hint.findtext(f"{{{YP}}}reason") == "yp:period-unsupported"
        assert hint.findtext(f"{{{YP}}}period-hint") == "1"
        # on-change works for the rest of statistics (uptime is left out of it)
        establish(m, datastore_sub(STATS, on_change()))
        sid = establish(m, datastore_sub())
        err = refused(m, datastore_sub())  # the per-session limit
        assert (err.tag, err.app_tag) == (
            "resource-denied",
            "ietf-subscribed-notifications:insufficient-resources",
        )
        for name, ns, app in (
            ("delete-subscription", SN, "no-such-subscription"),
            ("modify-subscription", SN, "no-such-subscription"),
            ("resync-subscription", YP, "no-such-subscription-resync"),
        ):
            with pytest.raises(RPCError) as exc:
                body = COUNTERS if name == "modify-subscription" else ""
                body = (
                    f'<stream-subtree-filter xmlns="{SN}">{body}</stream-subtree-filter>'
                    if body
                    else ""
                )
                rpc(other, name, sid, ns=ns, body=body)  # not other's subscription
            assert exc.value.app_tag.endswith(app), name
        with pytest.raises(RPCError) as exc:
            rpc(m, "resync-subscription", sid, ns=YP)  # periodic: cannot resync
        assert exc.value.app_tag == "ietf-yang-push:no-such-subscription-resync"
        with pytest.raises(RPCError) as exc:
            m.create_subscription()  # RFC 8640 section 3: not beside RFC 8639 ones
        assert exc.value.tag == "operation-not-supported"
        with pytest.raises(RPCError) as exc:
            other.dispatch(
                to_ele(
                    f'<establish-subscription xmlns="{SN}"><stream>NETCONF</stream>'
                    "<replay-start-time>2020-01-01T00:00:00Z</replay-start-time>"
                    "</establish-subscription>"
                )
            )  # feature not offered
        assert exc.value.tag == "unknown-element"
    wait_until(lambda: not server.server.subscriptions.subs, timeout=2)
    assert server.server.subscriptions.subs == {}  # the sessions closed: all gone


@pytest.mark.interop  # yanglint judges what arrives
def test_kill_and_stop_time(push_server: ServerThread, tmp_path: Path) -> None:
    with connect(push_server.port) as m, connect(push_server.port) as admin:
        sid = establish(m, datastore_sub())
        assert take(m).kind == "push-update"
        rpc(admin, "kill-subscription", sid)
        notes = collect(m, lambda ns: any(n.kind == "subscription-terminated" for n in ns))
        end = notes[-1]
        assert end.kind == "subscription-terminated" and end.id == sid
        assert end.body.findtext(f"{{{SN}}}reason") == "sn:no-such-subscription"
        yanglint("nc-notif", end.raw.encode(), tmp_path)
        assert take(m, timeout=0.3) is None  # nothing after the termination
        with pytest.raises(RPCError):
            rpc(admin, "kill-subscription", sid)
        stop = (datetime.now(UTC) + timedelta(seconds=0.4)).isoformat().replace("+00:00", "Z")
        sid = establish(m, datastore_sub(extra=f'<stop-time xmlns="{SN}">{stop}</stop-time>'))
        notes = collect(m, lambda ns: any(n.kind == "subscription-terminated" for n in ns))
        assert notes[-1].kind == "subscription-terminated" and notes[-1].id == sid
        assert 2 <= len(notes) <= 7  # ~4 push-updates at 100 ms, then the end
        assert push_server.server.subscriptions.subs == {}


def test_disconnect_ends_subscriptions(push_server: ServerThread) -> None:
    async def run() -> None:
        conn = await asyncssh.connect("127.0.0.1", push_server.port, username=USER,
                                      password=PASSWORD, known_hosts=None, client_keys=None,
                                      agent_path=None)  # fmt: skip
        w, _r, _ = await conn.open_session(subsystem="netconf", encoding=None)
        w.write(encode_message(CLIENT_HELLO.format(extra="").encode(), False))
        for body in (stream_sub(), datastore_sub()):
            rpc_ = (
                f'<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">{body}</rpc>'
            )
            w.write(encode_message(rpc_.encode(), False))
        await await_until(lambda: len(push_server.server.subscriptions.subs) >= 2, timeout=3)
        assert len(push_server.server.subscriptions.subs) == 2
        conn.abort()  # no close-session: the transport just goes away

    asyncio.run(run())
    wait_until(lambda: not push_server.server.subscriptions.subs, timeout=3)
    assert push_server.server.subscriptions.subs == {}
    stream = push_server.server.hub.streams["NETCONF"]
    assert stream.subscribers == []


async def _slow_reader(port: int, stall: float) -> tuple[list[str], float]:
    """A client that subscribes, stops reading for ``stall`` seconds, then reads on;
    the kinds of messages it read and when it started reading again."""
    conn = await asyncssh.connect("127.0.0.1", port, username=USER, password=PASSWORD,
                                  known_hosts=None, client_keys=None, agent_path=None)  # fmt: skip
    w, r, _ = await conn.open_session(subsystem="netconf", encoding=None, window=4096,
                                      max_pktsize=4096)  # fmt: skip
    w.write(encode_message(CLIENT_HELLO.format(extra="").encode(), False))
    dec = FrameDecoder(64 * 1024 * 1024)
    rpc_ = f'<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">{SLOW_SUB}</rpc>'
    w.write(encode_message(rpc_.encode(), False))
    kinds: list[str] = []

    async def read_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                data = await asyncio.wait_for(r.read(65536), left)
            except TimeoutError:
                return
            dec.feed(data)
            for msg in dec.messages():
                root = etree.fromstring(msg)
                name = etree.QName(root).localname
                if name == "notification":
                    name = etree.QName(root[1]).localname
                kinds.append(name)

    await read_for(0.3)  # hello, reply, first updates
    await asyncio.sleep(stall)  # behaviour under test: the receiver stalls, the server must not
    resumed = time.monotonic()
    await read_for(1.5)
    conn.close()
    return kinds, resumed


def test_slow_reader_is_suspended_not_stalling(push_factory: Any) -> None:
    server = push_factory(notification_queue_size=8)

    async def run() -> tuple[tuple[list[str], float], list[float], str]:
        slow = asyncio.create_task(_slow_reader(server.port, stall=2.5))
        await asyncio.sleep(0.6)  # behaviour under test: the fast client comes during the stall

        def fast() -> tuple[list[float], str]:
            with connect(server.port) as m:
                establish(m, datastore_sub(trigger="<yp:periodic><yp:period>5</yp:period>"
                                           "</yp:periodic>"))  # fmt: skip
                arrivals = [n.arrived for n in collect(m, lambda ns: len(ns) >= 10, 2.0)]
                flt = f'<subscriptions xmlns="{SN}"/>'
                return arrivals, m.get(filter=("subtree", flt)).data_xml

        arrivals, state = await asyncio.to_thread(fast)
        return await slow, arrivals, state

    (kinds, resumed), arrivals, state = asyncio.run(run())
    # not held up: every update reached the fast client while the slow one still stalled
    assert len(arrivals) >= 10 and arrivals[-1] < resumed
    assert "<state>suspended</state>" in state
    dropped = etree.fromstring(state.encode()).findtext(
        ".//{urn:qnms:yang:qnms-subscription-stats}dropped-event-records"
    )
    assert int(dropped) > 0
    assert "subscription-suspended" in kinds and "subscription-resumed" in kinds
    i = kinds.index("subscription-suspended")
    assert kinds.index("subscription-resumed") > i
    assert kinds[-1] == "push-update"  # delivery went on after resuming
    _ = UPTIME


def test_update_too_big_and_failing_state(push_factory: Any, live: LiveState) -> None:
    """Runtime trouble suspends or skips, and the subscription recovers on its own."""
    server = push_factory(max_update_size=1500)
    with connect(server.port) as m:
        sid = establish(m, datastore_sub(COUNTERS, periodic(5)))
        assert take(m).kind == "push-update"
        live.counters.update({f"c{i:02d}": i for i in range(40)})  # now too big
        notes = collect(m, lambda ns: any(n.kind == "subscription-suspended" for n in ns))
        assert notes[-1].id == sid
        assert notes[-1].body.findtext(f"{{{SN}}}reason") == "yp:update-too-big"
        live.counters = {"pairs": 1}
        notes = collect(m, lambda ns: len(ns) >= 2 and ns[-1].kind == "push-update")
        assert [n.kind for n in notes][:2] == ["subscription-resumed", "push-update"]
        assert counter_value(notes[1]) == "1"
        live.fail = True  # the state provider raises: no update, the schedule goes on
        time.sleep(0.2)  # settle: an update built before the failure may still be on its way
        while take(m, timeout=0.05) is not None:
            pass
        assert take(m, timeout=0.2) is None
        live.fail = False
        note = take(m, timeout=1)
        assert note is not None and note.kind == "push-update"
