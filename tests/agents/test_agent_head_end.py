"""What a head-end QUI asks of the twin, and what a QUI says when nothing is asked."""

from __future__ import annotations

from lxml import etree
from support.agents import QFS, connect

from qnms_agents.headend import UNTIL_RELEASED, head_end_allocations
from qnms_agents.qfs import TwinStatus

PATH = ("madqci-alice", "madqci-r1", "madqci-bob")


def running(node: str, quis: str) -> etree._Element:
    return etree.fromstring(
        f"""<data><quantum-fabric xmlns="{QFS}"><node><id>{node}</id></node>
        <qui-table>{quis}</qui-table></quantum-fabric></data>"""
    )


def qui(qid: str, path: tuple[str, ...] = (), body: str = "") -> str:
    hops = "".join(f"<path>{n}</path>" for n in path)
    return f"<qui><id>{qid}</id><service-unit>su-{qid}</service-unit>{hops}{body}</qui>"


def test_only_quis_whose_path_starts_here_become_allocate_requests() -> None:
    handles = "".join(
        f"<local-handle><memory>mem0</memory><index>{i}</index></local-handle>" for i in range(3)
    )
    gen = """<generation><pairs>7</pairs><target-fidelity>0.85</target-fidelity>
      <purification>false</purification><max-swaps>1</max-swaps><hold>true</hold></generation>
      <lifecycle><time-to-live>2.5</time-to-live></lifecycle>"""
    data = running(
        "madqci-alice",
        qui("head", PATH, gen + handles) + qui("other", PATH[::-1]) + qui("share"),
    )
    wanted = head_end_allocations(data)
    assert list(wanted) == ["head"]
    assert wanted["head"].request() == {
        "type": "allocate",
        "allocation": "su-head",
        "path": list(PATH),
        "memories": 3,
        "pairs": 7,
        "target-fidelity": 0.85,
        "purification": False,
        "max-swaps": 1,
        "hold": True,
        "duration": 2.5,
    }


def test_defaults_generate_until_the_qui_is_removed() -> None:
    wanted = head_end_allocations(running("madqci-alice", qui("q", PATH)))
    assert wanted["q"].request() == {
        "type": "allocate",
        "allocation": "su-q",
        "path": list(PATH),
        "memories": 1,
        "pairs": 0,
        "purification": True,
        "hold": False,
        "duration": UNTIL_RELEASED,
    }


def test_results_of_an_earlier_allocation_of_the_same_name_are_ignored() -> None:
    status = TwinStatus("su", state="scheduled", start=4.0)
    old = {"type": "allocation-state", "allocation": "su", "state": "released", "sim-time": 4.0}
    assert not status.apply(old)
    assert not status.apply({"type": "pair-delivered", "fidelity": 0.9, "sim-time": 3.9})
    assert status.apply({"type": "pair-delivered", "fidelity": 0.9, "sim-time": 4.2})
    assert (status.state, status.delivered, status.qui_state()) == ("active", 1, "bound")


def test_without_a_twin_the_head_end_qui_says_why_nothing_was_asked(start_agent) -> None:
    agent = start_agent("qfs", "madqci-alice")
    edit = f"""<config><quantum-fabric xmlns="{QFS}"><qui-table>
      <qui><id>q-head</id><scope>madqci</scope><service-unit>su</service-unit><nonce>1</nonce>
        {"".join(f"<path>{n}</path>" for n in PATH)}</qui>
      <qui><id>q-tail</id><scope>madqci</scope><service-unit>su2</service-unit><nonce>1</nonce>
        <path>madqci-bob</path><path>madqci-alice</path></qui>
      </qui-table></quantum-fabric></config>"""
    flt = f'<quantum-fabric xmlns="{QFS}"><qui-table/></quantum-fabric>'
    with connect(agent) as m:
        m.edit_config(target="running", config=edit)
        data = m.get(filter=("subtree", flt)).data_ele
        config = m.get_config("running", filter=("subtree", flt)).data_ele
    states = {
        q.findtext(f"{{{QFS}}}id"): q.findtext(f"{{{QFS}}}generation/{{{QFS}}}twin-state")
        for q in data.iter(f"{{{QFS}}}qui")
    }
    assert states == {"q-head": "no twin", "q-tail": "not head-end: madqci-bob drives this path"}
    paths = [p.text for p in config.iter(f"{{{QFS}}}path")]
    assert paths == [*PATH, "madqci-bob", "madqci-alice"]  # ordered-by user, as written
    assert config.find(f".//{{{QFS}}}twin-state") is None  # state stays out of <get-config>
