"""YANG-Push on real agents: periodic updates of live state, and on-change updates
when the emulation (or an edit) changes it."""

from __future__ import annotations

import time

from lxml import etree
from ncclient.xml_ import to_ele
from support.agents import CS, QFS, connect

SN = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
YP = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
DS = "urn:ietf:params:xml:ns:yang:ietf-datastores"


def subscribe(m, selection: str, trigger: str) -> int:
    reply = m.dispatch(
        to_ele(
            f'<establish-subscription xmlns="{SN}" xmlns:yp="{YP}" xmlns:ds="{DS}">'
            "<yp:datastore>ds:operational</yp:datastore>"
            f"<yp:datastore-subtree-filter>{selection}</yp:datastore-subtree-filter>"
            f"{trigger}</establish-subscription>"
        )
    )
    return int(to_ele(reply.xml).xpath("//*[local-name()='id']")[0].text)


def notifications(m, until, timeout: float = 5.0) -> list[etree._Element]:
    found: list[etree._Element] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(found):
        note = m.take_notification(timeout=0.2)
        if note is not None:
            found.append(to_ele(note.notification_xml))
    return found


def kind(note: etree._Element) -> str:
    return etree.QName(note[1]).localname


def test_periodic_subscription_pushes_memory_state(start_agent):
    agent = start_agent("qfs", "madqci-r1")
    with connect(agent) as m:
        sid = subscribe(
            m,
            f'<quantum-fabric xmlns="{QFS}"><memories/></quantum-fabric>',
            "<yp:periodic><yp:period>10</yp:period></yp:periodic>",
        )
        notes = notifications(m, lambda ns: len(ns) >= 5)
    assert len(notes) >= 5 and {kind(n) for n in notes} == {"push-update"}
    assert all(n.findtext(f".//{{{YP}}}id") == str(sid) for n in notes)
    assert notes[-1].findtext(f".//{{{QFS}}}memory/{{{QFS}}}state/{{{QFS}}}free") == "20"


def test_emulated_link_telemetry_triggers_on_change_update(bg, start_agent):
    agent = start_agent("qfs", "madqci-r1")
    with connect(agent) as m:
        subscribe(
            m,
            f'<quantum-fabric xmlns="{QFS}"><quantum-links/></quantum-fabric>',
            "<yp:on-change><yp:dampening-period>0</yp:dampening-period></yp:on-change>",
        )
        first = notifications(m, lambda ns: len(ns) >= 1)
        assert [kind(n) for n in first] == ["push-update"]  # sync-on-start

        def emulate() -> None:
            agent.live.apply(
                {"type": "link-telemetry", "link": "f-alice-r1", "attempts": 40,
                 "successes": 3, "success-probability": 0.075, "oper-state": "up"}
            )  # fmt: skip
            agent.state_changed()

        bg.call(emulate)
        changes = notifications(m, lambda ns: any(kind(n) == "push-change-update" for n in ns))
    patch = etree.tostring(changes[-1]).decode()
    assert kind(changes[-1]) == "push-change-update"
    assert "quantum-link=f-alice-r1" in patch and ">40<" in patch


def test_disabling_a_channel_is_pushed_on_change(start_agent):
    agent = start_agent("cs", "madqci")
    with connect(agent) as m, connect(agent) as editor:
        subscribe(
            m,
            f'<connectivity xmlns="{CS}"><channels><channel><name>f-r1-r2</name>'
            "<oper-state/></channel></channels></connectivity>",
            "<yp:on-change><yp:dampening-period>0</yp:dampening-period></yp:on-change>",
        )
        notifications(m, lambda ns: len(ns) >= 1)
        editor.edit_config(
            target="running",
            config=f'<config><connectivity xmlns="{CS}"><channels><channel><name>f-r1-r2</name>'
            "<enabled>false</enabled></channel></channels></connectivity></config>",
        )
        changes = notifications(m, lambda ns: any(kind(n) == "push-change-update" for n in ns))
    patch = etree.tostring(changes[-1]).decode()
    assert "channel=f-r1-r2" in patch and ">down<" in patch
