"""The link tier against full SeQUeNCe: same statistics, analytic link rates.

The same workload (network, path, seed) runs under ``full`` (every photon simulated) and
``link`` (heralded generation sampled, qndt/linktier.py). The per-pair latencies and the
delivered fidelities must be statistically indistinguishable (two-sample KS p > 0.01 over
>= 200 pairs, means within two standard errors), and a direct link's pair rate under
each model must match the analytic expectation (success probability per channel use x
channel-use rate) within 5%.

One memory per hop keeps the ``full`` runs short; two memories per hop are compared in
test_two_memories_double_the_rate_in_both_models.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from scipy import stats
from sequence.resource_management.action_condition_set import eg_match_func
from sequence.resource_management.resource_manager import ResourceManagerMsgType

from qnms.network import physics
from qnms.qndt import linktier
from qnms.qndt.topologies import chain

from .conftest import spy_sent

PAIRS = 220


def _run(make_engine: Any, network: Any, path: list[str], tier: str, seed: int) -> Any:
    engine = make_engine(network, seed=seed, telemetry_period=None, tier=tier)
    reply = engine.handle(
        {
            "type": "allocate",
            "allocation": "v",
            "path": path,
            "memories": 1,
            "pairs": PAIRS,
            "duration": 20.0,
        }
    )
    assert reply["ok"], reply
    t = 0.0
    while engine.allocations["v"].state != "completed" and t < 20.0:
        t += 0.25
        engine.run_until(t)
    alloc = engine.allocations["v"]
    assert alloc.delivered == PAIRS, (tier, alloc.delivered, t)
    return engine, alloc


def _same(a: list[float], b: list[float], what: str) -> None:
    """KS p > 0.01 and means within two standard errors of their difference."""
    assert len(a) >= 200 and len(b) >= 200
    p = stats.ks_2samp(a, b).pvalue
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    se = math.sqrt(stats.tvar(a) / len(a) + stats.tvar(b) / len(b)) if len(set(a + b)) > 1 else 0
    assert p > 0.01, (what, p, mean_a, mean_b)
    assert abs(mean_a - mean_b) <= 2 * se + 1e-12, (what, mean_a, mean_b, se)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("network", "path"),
    [
        (chain(3, km=10, size=2), ["alice", "r1", "bob"]),
        (None, ["madqci-alice", "madqci-r2", "madqci-bob"]),
        # two swaps per pair: a swapped pair is swapped again (swapfold.py on both levels)
        (chain(4, km=10, size=2), ["alice", "r1", "r2", "bob"]),
    ],
    ids=["chain", "default-network", "chain-2-swaps"],
)
def test_link_tier_reproduces_full_distributions(
    make_engine: Any, network: Any, path: list[str]
) -> None:
    full_engine, full = _run(make_engine, network, path, "full", seed=11)
    link_engine, link = _run(make_engine, network, path, "link", seed=11)
    _same(full.latencies, link.latencies, "per-pair latency")
    _same(full.fidelities, link.fidelities, "fidelity")
    # the point of the tier: an order of magnitude fewer events per delivered pair
    assert full_engine.tl.run_counter >= 5 * link_engine.tl.run_counter


def _expected_rate(engine: Any, a: str, b: str) -> float:
    ra, rb = engine.built.routers[a], engine.built.routers[b]
    mid = next(iter(ra.qchannels))
    det = linktier.detector_efficiency(engine.tl.get_entity_by_name(mid))
    mem_a = ra.get_components_by_type("MemoryArray")[0][0]
    mem_b = rb.get_components_by_type("MemoryArray")[0][0]
    eta_a = linktier.detection_probability(mem_a, ra.qchannels[mid], det)
    eta_b = linktier.detection_probability(mem_b, rb.qchannels[mid], det)
    return physics.expected_rate(
        eta_a,
        eta_b,
        ra.cchannels[b].delay,
        ra.qchannels[mid].delay,
        ra.cchannels[mid].delay,
        1e12 / mem_a.frequency,
        initiator_primary=a > b,  # the upstream end a requests; the larger name is primary
    )


@pytest.mark.slow
@pytest.mark.parametrize(("tier", "seconds"), [("link", 10.0), ("full", 2.0)])
def test_link_rate_matches_the_analytic_expectation(
    make_engine: Any, tier: str, seconds: float
) -> None:
    engine = make_engine(chain(2, km=10, size=2), seed=5, telemetry_period=None, tier=tier)
    assert engine.handle(
        {"type": "allocate", "allocation": "r", "path": ["alice", "bob"], "duration": 12.0}
    )["ok"]
    engine.run_until(seconds)
    measured = engine.allocations["r"].delivered / seconds
    expected = _expected_rate(engine, "alice", "bob")
    assert engine.allocations["r"].delivered >= 500  # hundreds of pairs, not a handful
    assert abs(measured / expected - 1) < 0.05, (tier, measured, expected)


def test_every_result_names_its_model(make_engine: Any) -> None:
    engine = make_engine(chain(2, km=5, size=2), seed=1, telemetry_period=0.05, tier="full")
    engine.handle({"type": "allocate", "allocation": "m", "path": ["alice", "bob"], "pairs": 2,
                   "duration": 1.0})  # fmt: skip
    engine.run_until(0.1)
    assert engine.results
    assert {msg["model"] for _, msg in engine.results} == {"full"}
    assert engine.handle({"type": "query"})["model"] == "full"


def test_unknown_model_is_refused() -> None:
    with pytest.raises(ValueError, match="model is one of"):
        linktier.select("photons")


@pytest.mark.slow
def test_two_memories_double_the_rate_in_both_models(make_engine: Any) -> None:
    """Two memories per hop: twice one memory's pairs (no detector blinding; build.py)."""
    counts = {}
    for tier in ("full", "link"):
        for memories in (1, 2):
            engine = make_engine(chain(2, km=10, size=4), seed=2, telemetry_period=None, tier=tier)
            assert engine.handle(
                {
                    "type": "allocate",
                    "allocation": "d",
                    "path": ["alice", "bob"],
                    "memories": memories,
                    "duration": 2.0,
                }
            )["ok"]
            engine.run_until(0.4)
            counts[tier, memories] = engine.allocations["d"].delivered
    for tier in ("full", "link"):
        assert counts[tier, 1] >= 100
        assert 1.8 <= counts[tier, 2] / counts[tier, 1] <= 2.2, counts


def test_time_bins_match_sequence(make_engine: Any) -> None:
    """The tier's integer time-bin arithmetic gives SeQUeNCe's (quirky) gmpy2 result."""
    engine = make_engine(chain(2), telemetry_period=None)
    qc = next(iter(engine.built.qchannels.values()))[0]
    width = round(1e12 / qc.frequency)
    times = [0, 1, width // 2, width // 2 + 1, width - 1, width, 3 * width // 2, 283875156334]
    times += [k * 7919 + j for k in range(200) for j in (0, 1, 6250)]
    for t in times:
        ref = qc.timebin_to_time(qc.time_to_timebin(t, qc.frequency), qc.frequency)
        assert linktier.next_bin(qc, t) == ref, t


def test_planning_reads_what_faults_change(make_engine: Any) -> None:
    """A primary's link constants are looked up once per memory pair (linktier._Link); its
    probabilities follow the memories' efficiency and frequency and the channels' loss."""
    engine = make_engine(chain(2), seed=1, telemetry_period=None)
    reply = engine.handle(
        {"type": "allocate", "allocation": "a", "path": ["alice", "bob"], "duration": 1.0}
    )
    assert reply["ok"], reply
    engine.run_until(0.01)
    proto = next(p for r in engine.built.routers.values() for p in r.protocols if p.primary)
    link = linktier._link_of(proto)
    assert link is not None and linktier._link_of(proto) is link

    def fresh() -> tuple[float, ...]:
        other = link.other_mem
        eta_p = linktier.detection_probability(proto.memory, link.qc_p, link.det)
        eta_n = linktier.detection_probability(other, link.qc_n, link.det)
        periods = (1e12 / proto.memory.frequency, 1e12 / other.frequency)
        return (*physics.round_probabilities(eta_p, eta_n, link.same), *periods)

    assert link.now(proto.memory) == fresh()
    before = link.now(proto.memory)
    for change in (
        lambda: setattr(proto.memory, "efficiency", 0.3),
        lambda: setattr(link.other_mem, "frequency", 500.0),
        lambda: setattr(link.qc_n, "loss", 1.0),
    ):
        change()
        assert link.now(proto.memory) == fresh()
    assert link.now(proto.memory) != before


def test_link_tier_parks_refused_pairing_requests(make_engine: Any) -> None:
    """No REQUEST/refusal round trips: a refused pairing waits for the partner (pairing.py)."""
    engine = make_engine(None, seed=3, telemetry_period=None, tier="link")
    refusals = 0
    for router in engine.built.routers.values():
        original = router.receive_message

        def spy(src: str, msg: Any, original: Any = original) -> None:
            nonlocal refusals
            if getattr(msg, "msg_type", None) is ResourceManagerMsgType.RESPONSE:
                refusals += not msg.is_approved
            original(src, msg)

        router.receive_message = spy
    path = ["madqci-alice", "madqci-r2", "quditto-r1", "quditto-r2", "quditto-dave"]
    assert engine.handle(
        {"type": "allocate", "allocation": "p", "path": path, "memories": 2, "duration": 1.0}
    )["ok"]
    engine.run_until(0.1)
    assert engine.allocations["p"].delivered >= 3
    assert refusals == 0


def _generation_requests(make_engine: Any) -> tuple[int, int]:
    """(generation REQUESTs sent, heralded link pairs) of a short link-tier run."""
    engine = make_engine(None, seed=3, telemetry_period=None, tier="link")
    sent = 0

    def seen(msg: Any) -> None:
        nonlocal sent
        is_request = getattr(msg, "msg_type", None) is ResourceManagerMsgType.REQUEST
        sent += is_request and msg.req_condition_func is eg_match_func

    spy_sent(engine, seen)
    path = ["madqci-alice", "madqci-r2", "madqci-bob"]
    assert engine.handle(
        {"type": "allocate", "allocation": "p", "path": path, "memories": 2, "duration": 1.0}
    )["ok"]
    engine.run_until(0.1)
    assert engine.allocations["p"].delivered >= 10
    return sent, sum(link.successes for link in engine.rec.links.values())


def test_link_tier_pairs_without_the_round_trip(make_engine: Any) -> None:
    """No generation REQUEST is sent (pairing.py): one certain to be approved pairs both
    ends at once, any other waits, parked, for the responder's next offer. The link pairs
    still flow (seed 3, 0.1 s: 82; 89 with every REQUEST sent, before pairing.py)."""
    sent, link_pairs = _generation_requests(make_engine)
    assert sent == 0
    assert link_pairs >= 60, link_pairs
