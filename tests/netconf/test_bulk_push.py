"""Entries created together over NETCONF (``datastore.bulk``, issue 13) are each told:
an RFC 8641 on-change subscription gets a yang-patch edit per entry, an RFC 5277
subscriber an RFC 6470 ``netconf-config-change`` with an edit per entry."""

from __future__ import annotations

from lxml import etree
from support.push import NODES, datastore_sub, edits, establish, on_change, take
from support.servers import ServerThread, connect

EX = "urn:example:net"
NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
N = 20


def created(n: int, first: int = 0) -> str:
    body = "".join(
        f"<node><name>n{i}</name><memory-count>{1 + i}</memory-count></node>"
        for i in range(first, first + n)
    )
    return (
        f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><network xmlns="{EX}">'
        f"{body}</network></config>"
    )


def test_on_change_reports_every_entry_of_a_bulk_create(push_server: ServerThread) -> None:
    with connect(push_server.port) as m, connect(push_server.port) as editor:
        editor.edit_config(target="running", config=created(1, N))  # the network is there
        sid = establish(m, datastore_sub(NODES, on_change()))
        sync = take(m)
        assert sync is not None and sync.kind == "push-update" and sync.id == sid
        editor.edit_config(target="running", config=created(N))
        note = take(m, timeout=3)
        assert note is not None and note.kind == "push-change-update"
        got = edits(note)
        assert [(op, target) for op, target, _ in got] == [
            ("create", f"/example-net:network/node=n{i}") for i in range(N)
        ]
        assert [v.findtext(f"{{{EX}}}memory-count") for _, _, v in got if v is not None] == [
            str(1 + i) for i in range(N)
        ]


def test_config_change_event_lists_every_entry_of_a_bulk_create(push_server: ServerThread):
    with connect(push_server.port) as sub, connect(push_server.port) as editor:
        editor.edit_config(target="running", config=created(1, N))  # the network is there
        sub.create_subscription()
        editor.edit_config(target="running", config=created(N))
        n = sub.take_notification(timeout=5)
        assert n is not None
        change = etree.fromstring(n.notification_xml.encode()).find(
            f"{{{NCN}}}netconf-config-change"
        )
        assert change is not None
        q = f"{{{NCN}}}"
        listed = [
            (e.findtext(q + "target"), e.findtext(q + "operation")) for e in change.iter(q + "edit")
        ]
        assert listed == [(f"/en:network/en:node[en:name='n{i}']", "create") for i in range(N)]
