"""The QFS agent's links state: the same element until config or telemetry changes
(``interfaces.StableStateProvider``, issue 13), and what it holds is current."""

from __future__ import annotations

from xml.sax.saxutils import escape

from lxml import etree

from qnms_agents.qfs import NS, QfsState

Q = f"{{{NS}}}"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


def running(*links: tuple[str, str]) -> etree._Element:
    body = "".join(
        f"<quantum-link><name>{escape(n)}</name><enabled>{on}</enabled></quantum-link>"
        for n, on in links
    )
    return etree.fromstring(
        f'<data xmlns="{NC}"><quantum-fabric xmlns="{NS}"><node><id>r1</id></node>'
        f"<quantum-links>{body}</quantum-links></quantum-fabric></data>"
    )


def opers(el: etree._Element) -> dict[str, str | None]:
    return {
        lk.findtext(Q + "name") or "": lk.findtext(Q + "oper-state")
        for lk in el.iter(Q + "quantum-link")
    }


def test_links_state_is_kept_until_config_or_telemetry_changes():
    tree = running(("a", "true"), ("b", "false"))
    live = QfsState(lambda: tree, clock=lambda: 0.0)
    first = live.stable_state()
    assert live.stable_state()[0] is first[0]
    assert opers(first[0]) == {"a": "up", "b": "down"}
    assert not list(live.state()[0].iter(Q + "quantum-link"))  # links only in the stable part

    live.apply({"type": "link-telemetry", "link": "a", "oper-state": "down", "attempts": 3})
    second = live.stable_state()[0]
    assert second is not first[0] and opers(second) == {"a": "down", "b": "down"}
    assert second.findtext(f".//{Q}attempts") == "3"

    tree = running(("c", "true"))  # a new running tree, even before config_changed ran
    third = live.stable_state()[0]
    assert third is not second and opers(third) == {"c": "up"}
    live.config_changed()
    assert live.stable_state()[0] is not third and opers(live.stable_state()[0]) == {"c": "up"}


def test_without_a_links_container_the_links_stay_in_the_rest():
    tree = etree.fromstring(
        f'<data xmlns="{NC}"><quantum-fabric xmlns="{NS}"><node><id>r1</id></node>'
        "</quantum-fabric></data>"
    )
    live = QfsState(lambda: tree, clock=lambda: 0.0)
    assert live.stable_state() == []
    rest = live.state()[0]
    assert [etree.QName(c).localname for c in rest] == [
        "node", "memories", "quantum-links", "qui-table"
    ]  # fmt: skip


def test_links_state_written_as_text_keeps_every_value():
    """The links' state is written as text and parsed (issue 13): names with markup
    characters, telemetry from the bus and disabled links come out as values."""
    tree = running(("a&<b>'\"", "true"), ("plain", "false"), ("quiet", "true"))
    live = QfsState(lambda: tree, clock=lambda: 0.0)
    telemetry = {"type": "link-telemetry", "link": "a&<b>'\"", "oper-state": "degraded",
                 "attempts": 40, "successes": 3, "success-probability": 0.075,
                 "mean-fidelity": 0.9123456789}  # fmt: skip
    live.apply(telemetry)
    links = live.stable_state()[0].find(f"{Q}quantum-links")
    assert links is not None and links.nsmap == {None: NS}
    entries = {lk.findtext(Q + "name"): lk for lk in links}
    assert list(entries) == ["a&<b>'\"", "plain", "quiet"]
    first = entries["a&<b>'\""]
    assert first.findtext(Q + "oper-state") == "degraded"
    t = first.find(Q + "telemetry")
    assert [(etree.QName(c).localname, c.text) for c in t] == [
        ("attempts", "40"), ("successes", "3"), ("success-probability", "0.075"),
        ("mean-fidelity", "0.912346"),
    ]  # fmt: skip
    assert entries["plain"].findtext(Q + "oper-state") == "down"
    quiet = entries["quiet"].find(Q + "telemetry")
    assert [(etree.QName(c).localname, c.text) for c in quiet] == [
        ("attempts", "0"), ("successes", "0")
    ]  # fmt: skip
