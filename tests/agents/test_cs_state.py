"""The CS agent's live state is built once per (running, cuts) and follows both."""

from __future__ import annotations

from lxml import etree

from qnms_agents.cs import NS, CsState

Q = f"{{{NS}}}"


def _running(length: str) -> etree._Element:
    return etree.fromstring(
        f'<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><connectivity xmlns="{NS}">'
        f"<channels><channel><name>c1</name><length-km>{length}</length-km></channel>"
        "<channel><name>c2</name><length-km>5</length-km></channel></channels>"
        "</connectivity></data>"
    )


def _oper(state: list[etree._Element], name: str) -> str:
    for ch in state[0].iter(Q + "channel"):
        if ch.findtext(Q + "name") == name:
            return ch.findtext(Q + "oper-state") or ""
    raise AssertionError(name)


def test_state_follows_running_and_cuts_and_hands_out_copies() -> None:
    tree = [_running("10")]
    cs = CsState(lambda: tree[0])
    first, second = cs.state(), cs.state()
    assert etree.tostring(first[0]) == etree.tostring(second[0])
    first[0].clear()  # a caller merging (moving) nodes out of its copy
    assert _oper(cs.state(), "c1") == "up"
    assert cs.apply({"type": "fault", "fault": "channel-cut", "channel": "c1"})
    assert (_oper(cs.state(), "c1"), _oper(cs.state(), "c2")) == ("down", "up")
    cs.apply({"type": "fault", "fault": "channel-restored", "channel": "c1"})
    assert _oper(cs.state(), "c1") == "up"
    tree[0] = _running("20")  # a new running tree is installed on every change
    loss = cs.state()[0].find(f"{Q}channels/{Q}channel/{Q}telemetry/{Q}loss")
    assert loss is not None and loss.text == "4"  # 20 km x 0.2 dB/km
