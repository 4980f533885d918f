"""The closed loop's building blocks without a network: YANG-Push replicas and damping."""

from __future__ import annotations

from lxml import etree

from qnms.orchestrator.damping import DampingParams, Elements
from qnms.orchestrator.southbound import AgentAddress
from qnms.orchestrator.telemetry import CS, YP, Replica, facts_of, target_steps


def _contents(*channels: tuple[str, str]) -> etree._Element:
    chans = "".join(
        f"<channel><name>{n}</name><oper-state>{s}</oper-state></channel>" for n, s in channels
    )
    return etree.fromstring(
        f'<datastore-contents xmlns="{YP}"><connectivity xmlns="{CS}"><channels>{chans}'
        "</channels></connectivity></datastore-contents>"
    )


def _patch(*edits: tuple[str, str, str]) -> etree._Element:
    body = "".join(
        f"<edit><edit-id>e{i}</edit-id><operation>{op}</operation><target>{t}</target>"
        + (f"<value>{v}</value>" if v else "")
        + "</edit>"
        for i, (op, t, v) in enumerate(edits)
    )
    return etree.fromstring(f'<yang-patch xmlns="{YP}"><patch-id>p</patch-id>{body}</yang-patch>')


def test_a_replica_follows_a_push_update_then_leaf_create_and_delete_patches() -> None:
    cs = AgentAddress("cs", "madqci", "127.0.0.1", 1)
    rep = Replica()
    rep.load(_contents(("f-a", "up"), ("f b", "up")))
    root = "/qnms-connectivity:connectivity/channels"
    rep.patch(
        _patch(
            ("replace", f"{root}/channel=f-a/oper-state",
             f'<oper-state xmlns="{CS}">down</oper-state>'),
            ("delete", f"{root}/channel=f%20b", ""),
            ("create", f"{root}/channel=f-c",
             f'<channel xmlns="{CS}"><name>f-c</name><oper-state>up</oper-state></channel>'),
        )
    )  # fmt: skip
    assert facts_of({cs: rep}).channels == {"f-a": "down", "f-c": "up"}
    assert target_steps(f"{root}/channel=f%20b/name") == ("connectivity", "channels",
                                                          "channel=f b", "name")  # fmt: skip


def test_damping_holds_a_flapping_element_down_and_releases_it_after_decay() -> None:
    el = Elements(DampingParams(penalty=1000, suppress=2000, reuse=750, half_life_s=10))
    # a single cut and repair: effective state follows the report
    assert el.observe("channel:x", True, 0.0, 0.0)
    assert el.observe("channel:x", False, 0.1, 0.1)
    assert not el.effective_down("channel:x", 0.2)
    # two more flaps within a second: suppressed, down even though it reports up
    for t in (0.3, 0.5):
        el.observe("channel:x", True, t, t)
        el.observe("channel:x", False, t + 0.1, t + 0.1)
    assert el.effective_down("channel:x", 1.0)
    assert 2000 < el.penalty("channel:x", 1.0) < 3000
    assert not el.tick(5.0, 5.0)  # still above reuse
    assert el.tick(40.0, 40.0)  # ~3000 halved four times: below 750
    assert not el.effective_down("channel:x", 40.0)
