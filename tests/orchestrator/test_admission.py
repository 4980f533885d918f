"""Admission decisions and the capacity ledger, on a small topology (no network)."""

from __future__ import annotations

import pytest
from test_paths import chain

from qnms.orchestrator.admission import CapacityLedger, Refusal, TokenBucket, admit
from qnms.orchestrator.intent import Application, ServiceIntent
from qnms.orchestrator.paths import PathRequirements
from qnms.orchestrator.topology import EndpointInfo

A, B = "urn:x:a", "urn:x:b"


def setup(memory: int = 10):
    topo = chain(3)
    for name, node in list(topo.nodes.items()):
        mem = node.memories[0].__class__(**{**node.memories[0].__dict__, "size": memory})
        topo.nodes[name] = node.__class__(**{**node.__dict__, "memories": (mem,)})
    topo.endpoints = {A: EndpointInfo(A, "n0"), B: EndpointInfo(B, "n2")}
    apps = {
        A: Application("a", A, "n0", frozenset({"bipartite-entanglement"}), 1.0, 2),
        B: Application("b", B, "n2", frozenset({"bipartite-entanglement"}), 1.0, 2),
    }
    return topo, apps, CapacityLedger.from_topology(topo)


def intent(name: str = "u", **req) -> ServiceIntent:
    return ServiceIntent(name, "bipartite-entanglement", A, (A, B), 1, 4_000_000_000, None,
                         PathRequirements(**req))  # fmt: skip


def test_memory_qubits_are_never_promised_twice() -> None:
    topo, apps, ledger = setup(memory=2)  # the repeater needs 2 per unit
    adm = admit(intent("u1"), apps, topo, ledger, {})
    ledger.reserve("u1", adm.paths[0].qubits, lambda n: "mem0")
    with pytest.raises(Refusal) as info:
        admit(intent("u2"), apps, topo, ledger, {})
    assert info.value.app_tag == "insufficient-memory"
    ledger.release("u1")
    assert admit(intent("u2"), apps, topo, ledger, {}).paths


def test_an_exhausted_token_bucket_refuses_until_it_refills() -> None:
    topo, apps, ledger = setup()
    bucket = TokenBucket(rate=1.0, burst=2, level=2, stamp=0.0)
    for _ in range(2):
        admit(intent(), apps, topo, ledger, {"a": bucket}, now=0.0)
        bucket.take(0.0)
    with pytest.raises(Refusal) as info:
        admit(intent(), apps, topo, ledger, {"a": bucket}, now=0.0)
    assert info.value.app_tag == "token-bucket-exhausted"
    assert admit(intent(), apps, topo, ledger, {"a": bucket}, now=1.0).paths


def test_a_refusal_becomes_an_rpc_error_naming_reason_and_field() -> None:
    topo, apps, ledger = setup()
    with pytest.raises(Refusal) as info:
        admit(intent(swapping_depth_cap=0), apps, topo, ledger, {})
    err = info.value.to_rpc_error()
    assert (err.tag, err.app_tag) == ("invalid-value", "swapping-depth-cap")
    assert (
        err.path
        == "/svc:service-units/svc:service-unit[svc:name='u']/svc:qos/svc:swapping-depth-cap"
    )
    assert "1 swap(s), above the cap of 0" in err.message
