"""What one allocation writes on each agent, and its exact undo (no network)."""

from __future__ import annotations

from lxml import etree

from qnms.orchestrator.admission import Handle
from qnms.orchestrator.edits import (
    AllocationPlan,
    EndpointBinding,
    GenerationRequest,
    HopAllocation,
    agent_edits,
    qui_id,
)

Q = {"q": "urn:qnms:yang:qnms-quantum-fabric", "s": "urn:qnms:yang:qnms-service-stratum"}


def plan(generation: GenerationRequest | None = None) -> AllocationPlan:
    nodes = [("a", "d1"), ("r", "d1"), ("b", "d2")]
    hops = tuple(
        HopAllocation(
            n,
            d,
            qui_id("su", d),
            f"nonce{i}",
            (Handle(n, "mem0", 0),),
            nodes[i - 1][0] if i else None,
            nodes[i + 1][0] if i < 2 else None,
        )
        for i, (n, d) in enumerate(nodes)
    )
    ends = (EndpointBinding("a", "urn:x:a", "su.d1"), EndpointBinding("b", "urn:x:b", "su.d2"))
    return AllocationPlan("su", "bipartite-entanglement", ("urn:x:a?=nonce=1", "urn:x:b?=nonce=2",
                          "urn:x:lifecycle?=size=5&valid-until=9"), 5, 9, 60.0, None, hops, ends,
                          generation)  # fmt: skip


def parse(xml: str) -> etree._Element:
    return etree.fromstring(xml.encode())


def test_each_node_gets_a_domain_scoped_qui_and_its_forwarding_entry() -> None:
    edits = {e.agent: e for e in agent_edits(plan())}
    assert list(edits) == ["qfs:a", "qfs:r", "qfs:b", "ss:a", "ss:b"]
    r = parse(edits["qfs:r"].apply_xml)
    assert r.xpath("//q:qui/q:id/text()", namespaces=Q) == ["su.d1"]
    assert r.xpath("//q:entry/q:action/text()", namespaces=Q) == ["swap"]
    assert r.xpath("//q:entry/q:upstream/text()", namespaces=Q) == ["a"]
    b = parse(edits["qfs:b"].apply_xml)
    assert b.xpath("//q:qui/q:id/text()", namespaces=Q) == ["su.d2"]
    assert b.xpath("//q:entry/q:action/text()", namespaces=Q) == ["terminate"]
    store = parse(edits["ss:b"].apply_xml)
    assert store.xpath("//s:local-endpoint/text()", namespaces=Q) == ["urn:x:b"]
    assert len(store.xpath("//s:identifier", namespaces=Q)) == 3
    undo = parse(edits["qfs:r"].remove_xml)
    assert undo.xpath("//@*[local-name()='operation']") == ["remove", "remove"]


def test_only_the_head_end_qui_carries_the_path_and_generation_request() -> None:
    gen = GenerationRequest(pairs=5, target_fidelity=0.8, purification=True, max_swaps=1)
    edits = {e.agent: parse(e.apply_xml) for e in agent_edits(plan(gen))}
    head = edits["qfs:a"]
    assert head.xpath("//q:qui/q:path/text()", namespaces=Q) == ["a", "r", "b"]
    g = head.find(".//q:generation", Q)
    assert [(c.tag.split("}")[1], c.text) for c in g] == [
        ("pairs", "5"),
        ("target-fidelity", "0.800000"),
        ("purification", "true"),
        ("max-swaps", "1"),
        ("hold", "false"),
    ]
    for other in ("qfs:r", "qfs:b"):
        assert edits[other].find(".//q:generation", Q) is None
        assert edits[other].find(".//q:path", Q) is None


def test_long_unit_names_still_give_valid_qui_ids() -> None:
    qid = qui_id("x" * 200, "madqci")
    assert len(qid) <= 64 and qid.endswith(".madqci")
