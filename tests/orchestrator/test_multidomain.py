"""Multi-domain (issue 11): a parent orchestrator (MDSC) over one orchestrator per domain.

The whole layout of ``qnms up --multi-domain`` on the default network (twin, agents,
the madqci and quditto orchestrators, the parent): an inter-domain unit asked of the
parent becomes active with one segment per domain, deleting it releases both, the
domain view shows no internal node, handle or QUI, and a domain that is down or cannot
serve its segment fails the unit with a reason, nothing left on any agent, and works
again once the cause is gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from lxml import etree
from ncclient.operations import RPCError
from orch_support import ALICE, NC, NS, connect, delete_xml, poll, unit_state, unit_xml

from qnms.app.background import BackgroundLoop
from qnms.app.stack import Stack, StackOptions
from qnms.mdsc.northbound import ParentOrchestrator
from qnms.network.inventory import load_network
from qnms.orchestrator.abstract import ABS
from qnms.orchestrator.northbound import Orchestrator

SENSING = "urn:qkd:quditto:sensing"
A = {"a": ABS}


class Layout:
    def __init__(self, bg: BackgroundLoop, stack: Stack) -> None:
        self.bg, self.stack = bg, stack

    def parent(self):
        o = self.stack.options
        return connect(self.stack.port, o.user, o.password)

    def domain(self, name: str):
        user, password = self.stack.domain_login
        return connect(self.stack.domains[name].port, user, password)

    def leftovers(self) -> dict[str, list[str]]:
        """QUIs and service-unit stores on any agent, read on the agents' loop."""

        def read() -> dict[str, list[str]]:
            out = {}
            for agent in self.stack.agents:
                data = agent.datastores.get_config("running")
                found = data.xpath("//q:qui-table/q:qui/q:id/text()", namespaces=NS)
                found += data.xpath(
                    "//ss:service-units/ss:service-unit/ss:name/text()", namespaces=NS
                )
                if found:
                    out[f"{agent.config.stratum}:{agent.config.name}"] = list(found)
            return out

        return self.bg.call(read)

    def head_end_path(self, node: str) -> list[str]:
        """The ``path`` of the head-end QUI on ``node`` (the generation request)."""

        def read() -> list[str]:
            agent = next(
                a for a in self.stack.agents if (a.config.stratum, a.config.name) == ("qfs", node)
            )
            data = agent.datastores.get_config("running")
            return [str(p) for p in data.xpath("//q:qui/q:path/text()", namespaces=NS)]

        return self.bg.call(read)


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Layout]:
    options = StackOptions(
        network=load_network(), state_dir=tmp_path_factory.mktemp("md"), multi_domain=True
    )
    with BackgroundLoop() as bg:
        stack = Stack(options)
        bg.run(stack.start(), timeout=240)
        try:
            yield Layout(bg, stack)
        finally:
            bg.run(stack.stop(), timeout=60)


def inter_unit(name: str, fidelity: float = 0.7) -> str:
    return unit_xml(
        name, endpoints=(ALICE, SENSING), qos=f"<target-fidelity>{fidelity}</target-fidelity>"
    )


def settled(m, name: str, states=("active", "failed")) -> etree._Element:
    def done():
        unit = unit_state(m, name)
        return (
            unit if unit is not None and unit.findtext("s:state", namespaces=NS) in states else None
        )

    return poll(done, 240, f"{name} in {states}")


def segment(m, name: str) -> etree._Element | None:
    flt = f'<segments xmlns="{ABS}"><segment><name>{name}</name></segment></segments>'
    return m.get(filter=("subtree", flt)).data_ele.find("a:segments/a:segment", A)


def stop_domain(layout: Layout, name: str) -> int:
    """Stop a domain orchestrator; its port, to start it again on."""
    port = layout.stack.domains[name].port
    layout.bg.run(layout.stack.domains[name].stop())
    return port


def start_domain(layout: Layout, name: str, port: int) -> None:
    """Start a stopped domain orchestrator again, same port and state directory."""
    config = layout.stack.domains[name].config
    config.port = port
    back = Orchestrator(config)
    layout.bg.run(back.start(), timeout=60)
    layout.stack.domains[name] = back


def restart_domain(layout: Layout, name: str) -> None:
    start_domain(layout, name, stop_domain(layout, name))


def test_the_domain_view_shows_border_nodes_and_estimates_only(layout: Layout) -> None:
    with layout.domain("madqci") as m:
        data = m.get(filter=("subtree", f'<domain-abstract xmlns="{ABS}"/>')).data_ele
    view = data.find("a:domain-abstract", A)
    assert view.findtext("a:name", namespaces=A) == "madqci"
    assert view.xpath("a:border-node/a:name/text()", namespaces=A) == ["madqci-r2"]
    assert view.xpath("a:border-node/a:peer/a:node/text()", namespaces=A) == ["quditto-r1"]
    est = view.find(f"a:segment-estimate[a:from='{ALICE}'][a:to='madqci-r2']", A)
    assert 0.5 < float(est.findtext("a:fidelity", namespaces=A)) <= 1
    text = etree.tostring(view).decode()
    for internal in ("madqci-r1", "madqci-alice", "madqci-bob", "local-handle", "qui"):
        assert internal not in text


def test_an_inter_domain_unit_gets_a_segment_per_domain_and_delete_releases_both(
    layout: Layout,
) -> None:
    with layout.parent() as m:
        m.edit_config(target="running", config=inter_unit("md-1"))
        unit = settled(m, "md-1")
        assert unit.findtext("s:state", namespaces=NS) == "active", etree.tostring(unit)
        quis = dict(
            zip(
                unit.xpath("s:qui/s:domain/text()", namespaces=NS),
                unit.xpath("s:qui/s:id/text()", namespaces=NS),
                strict=True,
            )
        )
        assert set(quis) == {"madqci", "quditto"}
        assert int(unit.findtext("s:delivery/s:delivered-units", namespaces=NS)) >= 10
        for domain in ("madqci", "quditto"):
            with layout.domain(domain) as d:
                seg = segment(d, "md-1")
                assert seg.findtext("a:state", namespaces=A) == "active"
                assert seg.findtext("a:qui", namespaces=A) == quis[domain]
        assert set(layout.leftovers()) >= {"qfs:madqci-alice", "qfs:quditto-dave"}
        path = layout.head_end_path("madqci-alice")  # the twin realises the stitched path
        assert path[0] == "madqci-alice" and path[-1] == "quditto-dave"
        assert path.index("madqci-r2") + 1 == path.index("quditto-r1")  # the crossing
        m.edit_config(target="running", config=delete_xml("md-1"))
        poll(lambda: unit_state(m, "md-1") is None, 30, "unit gone")
    for domain in ("madqci", "quditto"):
        with layout.domain(domain) as d:
            poll(lambda d=d: segment(d, "md-1") is None, 30, f"segment gone in {domain}")
    assert poll(lambda: layout.leftovers() == {}, 30, "nothing left on any agent")


def test_a_segment_a_domain_cannot_serve_fails_the_unit_and_leaks_nothing(
    layout: Layout,
) -> None:
    with layout.domain("quditto") as d, pytest.raises(RPCError) as err:
        d.edit_config(
            target="running",
            config=f"""<config xmlns="{NC}"><segments xmlns="{ABS}"
 xmlns:qt="urn:qnms:yang:qnms-types"><segment><name>bad</name>
 <service-type>qt:bipartite-entanglement</service-type><local-end>{ALICE}</local-end>
 <border>quditto-r1</border><peer>madqci-r2</peer><size>1</size>
 <valid-until>4000000000</valid-until></segment></segments></config>""",
        )
    assert "segment-not-served" in etree.tostring(err.value.xml).decode()
    with layout.parent() as m:
        m.edit_config(target="running", config=inter_unit("md-hi", fidelity=0.999))
        unit = settled(m, "md-hi")
        assert unit.findtext("s:state", namespaces=NS) == "failed"
        reason = unit.findtext("s:failure-reason", namespaces=NS)
        assert "refused its segment" in reason and "target-fidelity-unreachable" in reason
        assert layout.leftovers() == {}
        m.edit_config(target="running", config=delete_xml("md-hi"))
        m.edit_config(target="running", config=inter_unit("md-ok"))  # recovery
        assert settled(m, "md-ok").findtext("s:state", namespaces=NS) == "active"
        m.edit_config(target="running", config=delete_xml("md-ok"))
    assert poll(lambda: layout.leftovers() == {}, 30, "nothing left on any agent")


def test_a_domain_that_is_down_fails_the_unit_and_it_works_once_back(layout: Layout) -> None:
    port = stop_domain(layout, "quditto")
    try:
        with layout.parent() as m:
            m.edit_config(target="running", config=inter_unit("md-down"))
            unit = settled(m, "md-down")
            assert unit.findtext("s:state", namespaces=NS) == "failed"
            assert "quditto unreachable" in unit.findtext("s:failure-reason", namespaces=NS)
            assert layout.leftovers() == {}
            m.edit_config(target="running", config=delete_xml("md-down"))
    finally:
        start_domain(layout, "quditto", port)
    with layout.parent() as m:
        m.edit_config(target="running", config=inter_unit("md-back"))
        assert settled(m, "md-back").findtext("s:state", namespaces=NS) == "active"
        m.edit_config(target="running", config=delete_xml("md-back"))
    assert poll(lambda: layout.leftovers() == {}, 30, "nothing left on any agent")


def test_a_border_node_that_is_down_fails_the_unit_and_it_works_once_back(
    layout: Layout,
) -> None:
    bg = layout.bg
    border = next(
        a for a in layout.stack.agents if a.config.name == "madqci-r2" and a.config.stratum == "qfs"
    )
    port = border.port
    bg.run(border.stop())
    try:
        with layout.parent() as m:
            m.edit_config(target="running", config=inter_unit("md-border"))
            unit = settled(m, "md-border")
            assert unit.findtext("s:state", namespaces=NS) == "failed"
            reason = unit.findtext("s:failure-reason", namespaces=NS)
            assert "segment in madqci failed" in reason and "qfs:madqci-r2" in reason
            assert layout.leftovers() == {}
            m.edit_config(target="running", config=delete_xml("md-border"))
    finally:
        border.server.options = replace(border.server.options, port=port)
        bg.run(border.start())
    with layout.parent() as m:
        m.edit_config(target="running", config=inter_unit("md-border-back"))
        assert settled(m, "md-border-back").findtext("s:state", namespaces=NS) == "active"
        m.edit_config(target="running", config=delete_xml("md-border-back"))
    assert poll(lambda: layout.leftovers() == {}, 30, "nothing left on any agent")


def test_an_intra_domain_unit_is_delegated_to_its_domain_whole(layout: Layout) -> None:
    with layout.parent() as m:
        m.edit_config(target="running", config=unit_xml("md-local", qos=""))
        unit = settled(m, "md-local")
        assert unit.findtext("s:state", namespaces=NS) == "active", etree.tostring(unit)
        assert unit.xpath("s:qui/s:domain/text()", namespaces=NS) == ["madqci"]
        with layout.domain("madqci") as d:
            mine = unit_state(d, "md-local")
            assert mine.findtext("s:state", namespaces=NS) == "active"
            assert unit.findtext("s:qui/s:id", namespaces=NS) == mine.findtext(
                "s:qui/s:id", namespaces=NS
            )
        m.edit_config(target="running", config=delete_xml("md-local"))
        with layout.domain("madqci") as d:
            poll(lambda: unit_state(d, "md-local") is None, 30, "domain unit gone")
    assert poll(lambda: layout.leftovers() == {}, 30, "nothing left on any agent")


def test_a_domain_orchestrator_restart_keeps_its_segments(layout: Layout) -> None:
    with layout.parent() as m:
        m.edit_config(target="running", config=inter_unit("md-restart"))
        assert settled(m, "md-restart").findtext("s:state", namespaces=NS) == "active"
        held = layout.leftovers()
        restart_domain(layout, "madqci")
        assert layout.leftovers() == held  # the start-up repair kept the segment's QUIs
        with layout.domain("madqci") as d:
            assert segment(d, "md-restart").findtext("a:state", namespaces=A) == "active"
        unit = unit_state(m, "md-restart")
        assert unit.findtext("s:state", namespaces=NS) == "active"
        m.edit_config(target="running", config=delete_xml("md-restart"))
    assert poll(lambda: layout.leftovers() == {}, 30, "nothing left on any agent")


def test_a_unit_deleted_while_its_segments_are_asked_for_leaves_nothing(layout: Layout) -> None:
    with layout.parent() as m:
        m.edit_config(target="running", config=inter_unit("md-quick"))
        m.edit_config(target="running", config=delete_xml("md-quick"))
        poll(lambda: unit_state(m, "md-quick") is None, 30, "unit gone")
    parent = layout.stack.parent
    assert parent is not None
    layout.bg.run(parent.controller.idle(), timeout=120)  # provisioning and release done
    assert "md-quick" not in parent.controller.records
    for domain in ("madqci", "quditto"):
        with layout.domain(domain) as d:
            poll(lambda d=d: segment(d, "md-quick") is None, 60, f"no segment in {domain}")
    assert poll(lambda: layout.leftovers() == {}, 60, "nothing left on any agent")


def test_the_parent_restarted_takes_its_units_back_and_releases_them_later(
    layout: Layout,
) -> None:
    stack, bg = layout.stack, layout.bg
    with layout.parent() as m:
        m.edit_config(target="running", config=inter_unit("md-parent"))
        before = settled(m, "md-parent")
        assert before.findtext("s:state", namespaces=NS) == "active"
    old = stack.parent
    assert old is not None
    port = old.port
    bg.run(old.stop())
    config = old.config
    config.port = port
    stack.parent = ParentOrchestrator(config)
    bg.run(stack.parent.start(), timeout=60)
    with layout.parent() as m:
        unit = unit_state(m, "md-parent")
        assert unit.findtext("s:state", namespaces=NS) == "active"
        assert unit.xpath("s:qui/s:id/text()", namespaces=NS) == before.xpath(
            "s:qui/s:id/text()", namespaces=NS
        )
        m.edit_config(target="running", config=delete_xml("md-parent"))
        poll(lambda: unit_state(m, "md-parent") is None, 30, "unit gone")
    assert poll(lambda: layout.leftovers() == {}, 30, "nothing left on any agent")


def test_a_border_node_failing_under_an_active_unit_fails_it_and_releases_both_segments(
    layout: Layout,
) -> None:
    bg = layout.bg
    border = next(
        a for a in layout.stack.agents if (a.config.stratum, a.config.name) == ("qfs", "madqci-r2")
    )
    with layout.parent() as m:
        m.edit_config(target="running", config=inter_unit("md-live"))
        assert settled(m, "md-live").findtext("s:state", namespaces=NS) == "active"
        port = border.port
        bg.run(border.stop())
        try:
            unit = settled(m, "md-live", ("failed",))
            reason = unit.findtext("s:failure-reason", namespaces=NS)
            assert "segment in madqci failed" in reason and "madqci-r2 does not answer" in reason
            with layout.domain("quditto") as d:
                poll(lambda: segment(d, "md-live") is None, 30, "quditto's segment released")
            # everything but the unreachable border node itself is already released
            assert poll(lambda: set(layout.leftovers()) <= {"qfs:madqci-r2"}, 30, "released")
        finally:
            border.server.options = replace(border.server.options, port=port)
            bg.run(border.start())
        assert poll(lambda: layout.leftovers() == {}, 60, "the border's QUI removed once back")
        m.edit_config(target="running", config=delete_xml("md-live"))
