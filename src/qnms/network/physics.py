"""The physics the planner and the twin share: one home for every formula both use.

The orchestrator's path estimates (orchestrator/paths.py) and the twin (qndt) must agree
on what a path delivers (issue 14), so neither keeps its own copy of a formula: both
import them from here. Pure functions of numbers, no SeQUeNCe (the orchestrator and the
agents stay light, pyproject import contracts).

* Werner pairs: a swap gives ``F1 F2 + (1 - F1)(1 - F2)/3`` times the node's swapping
  degradation; a stored pair depolarises as ``F(t) = 1/4 + (F - 1/4) exp(-t/T)``;
  BBPSSW of two Werner pairs succeeds with ``p`` and keeps ``F'`` (formulas below).
* A heralded meet-in-the-middle link as SeQUeNCe 1.3.1 models it (Barrett-Kok, BSM in
  the middle of the fibre): the per-round herald probabilities and the pair rate of a
  link whose pairs are used as soon as they are heralded (``expected_rate``; the cycle
  and its timing are described in qndt/linktier.py, which samples the same cycle).
* A path: its links generate in parallel and a swap waits for the last of them, so a
  chain delivers once per ``E[max]`` of its links' generation times
  (``parallel_links_time``).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence

#: One-way latency of light in fibre (SeQUeNCe's 2e8 m/s), ms per km.
FIBRE_MS_PER_KM = 0.005
PS_PER_MS = 1e9
RARE = 1e-3  # success per cycle below which a link's generation time is exponential


# -- Werner pairs ---------------------------------------------------------------------------


def werner_swap(f1: float, f2: float, degradation: float = 1.0) -> float:
    """Fidelity after swapping two Werner pairs, times the node's swapping degradation.

    ``F1 F2 + (1 - F1)(1 - F2) / 3``: never below 1/4 for inputs of at least 1/4, unlike
    SeQUeNCe's own bookkeeping ``F1 F2``.
    """
    return (f1 * f2 + (1 - f1) * (1 - f2) / 3) * degradation


def werner_decay(f0: float, t_s: float, coherence_s: float) -> float:
    """Depolarised fidelity after storing a pair of fidelity ``f0`` for ``t_s`` seconds.

    A non-positive coherence time means the memory does not decohere (SeQUeNCe's ``-1``).
    """
    if coherence_s <= 0 or t_s <= 0:
        return f0
    return 0.25 + (f0 - 0.25) * math.exp(-t_s / coherence_s)


def pair_coherence(t_a: float, t_b: float) -> float:
    """Coherence time of a pair: harmonic mean of its memories' (<= 0 means infinite)."""
    rate = (1 / t_a if t_a > 0 else 0.0) + (1 / t_b if t_b > 0 else 0.0)
    return 2 / rate if rate > 0 else -1.0


def bbpssw_success(f1: float, f2: float | None = None) -> float:
    """Success probability of one BBPSSW round on Werner pairs of fidelities f1, f2."""
    f2 = f1 if f2 is None else f2
    e1, e2 = (1 - f1) / 3, (1 - f2) / 3
    return f1 * f2 + f1 * e2 + e1 * f2 + 5 * e1 * e2


def bbpssw_fidelity(f1: float, f2: float | None = None) -> float:
    """Fidelity of the kept pair after a successful BBPSSW round (f2 defaults to f1)."""
    f2 = f1 if f2 is None else f2
    e1, e2 = (1 - f1) / 3, (1 - f2) / 3
    den = bbpssw_success(f1, f2)
    return (f1 * f2 + e1 * e2) / den if den > 0 else 0.0


# -- heralded links -------------------------------------------------------------------------


def detection_probability(
    memory_efficiency: float, length_km: float, attenuation_db_per_km: float,
    detector_efficiency: float = 1.0,
) -> float:  # fmt: skip
    """Probability that one end's photon clicks a detector at the BSM mid-fibre."""
    half_loss_db = attenuation_db_per_km * length_km / 2
    return memory_efficiency * 10 ** (-half_loss_db / 10) * detector_efficiency


def link_detector_efficiency(node_a: float, node_b: float) -> float:
    """Efficiency with which a link's heralding station detects either end's photon.

    Each end node contributes one of the station's two detectors (its
    ``detector-efficiency`` capability) and SeQUeNCe's single-atom BSM sends every
    photon to either detector with probability 1/2, so each photon is detected with the
    mean of the two: equal efficiencies give that efficiency, as before the leaf.
    """
    return (node_a + node_b) / 2


def same_detector_factor(node_a: float, node_b: float) -> float:
    """How much likelier two detected photons share one detector than if both detectors
    had the mean efficiency: ``(d_a^2 + d_b^2) / 2`` over ``mean^2``, 1 when they are equal.

    Both photons landing on one detector give a single click (the second is inside the
    dead time): a false herald, ``eta_a eta_b / 2`` of round 1 for equal detectors.
    """
    mean = link_detector_efficiency(node_a, node_b)
    return (node_a**2 + node_b**2) / 2 / mean**2 if mean > 0 else 1.0


def round_probabilities(
    eta_a: float, eta_b: float, same_detector: float = 1.0
) -> tuple[float, float, float]:
    """(p_true, p_false, p2) of one Barrett-Kok cycle in SeQUeNCe's model.

    Round 1 heralds truly with ``(eta_a + eta_b) / 4``, falsely (a photon lost, or both
    on one detector) with ``(eta_a (1 - eta_b) + eta_b (1 - eta_a) + s eta_a eta_b / 2) / 4``
    (``s`` the ``same_detector_factor`` of the link's detectors);
    round 2 succeeds after a true herald with ``(eta_a + eta_b) / 2``.
    """
    p_true = (eta_a + eta_b) / 4
    both = same_detector * eta_a * eta_b / 2
    p_false = (eta_a * (1 - eta_b) + eta_b * (1 - eta_a) + both) / 4
    return p_true, p_false, (eta_a + eta_b) / 2


def cycle_success(eta_a: float, eta_b: float) -> float:
    """Probability that one pairing cycle heralds a pair (``p_true x p2``)."""
    p_true, _, p2 = round_probabilities(eta_a, eta_b)
    return p_true * p2


def link_cycle(
    eta_a: float,
    eta_b: float,
    c_ps: float,
    q_ps: float,
    m_ps: float,
    period_ps: float,
    initiator_primary: bool,
    same_detector: float = 1.0,
) -> tuple[float, float]:
    """(success probability, mean duration in seconds) of one pairing cycle of a link.

    The analytic steady state of the cycle, for a link of classical delay ``c``, photon
    delay ``q`` to the BSM, herald delay ``m`` and memory period ``1/f``: a round-2
    emission follows round 1 after ``A = max(q + m + c, 1/f) + c``; the next cycle's first
    emission follows a failed (or used) round after ``B = max(q + m + r + c, 1/f) + c``
    with ``r`` the re-pairing time (``c``, ``2c`` when the primary is the initiator). A
    cycle succeeds with ``p_true p2`` and lasts ``B + (p_true + p_false) A`` on average.
    """
    p_true, p_false, p2 = round_probabilities(eta_a, eta_b, same_detector)
    restart = 2 * c_ps if initiator_primary else c_ps
    a = max(q_ps + m_ps + c_ps, period_ps) + c_ps
    b = max(q_ps + m_ps + restart + c_ps, period_ps) + c_ps
    return p_true * p2, (b + (p_true + p_false) * a) * 1e-12


def expected_rate(
    eta_a: float,
    eta_b: float,
    c_ps: float,
    q_ps: float,
    m_ps: float,
    period_ps: float,
    initiator_primary: bool,
    same_detector: float = 1.0,
) -> float:
    """Pairs per second of one link whose pairs are used as soon as they are heralded.

    Success probability per cycle over the mean cycle duration (``link_cycle``): success
    probability per channel use times the channel-use rate.
    """
    p, cycle_s = link_cycle(
        eta_a, eta_b, c_ps, q_ps, m_ps, period_ps, initiator_primary, same_detector
    )
    return p / cycle_s


def _model_delays(
    classical_ms: float, length_km: float, frequency_hz: float
) -> tuple[int, float, int, float]:
    """(c, q, m, period) in ps of a link as the twin builds it (see ``model_link_cycle``)."""
    c = max(1, int(classical_ms * PS_PER_MS))
    q = length_km / 2 * FIBRE_MS_PER_KM * PS_PER_MS
    period = 1e12 / frequency_hz if frequency_hz > 0 else 0.0
    return c, q, c // 2, period


def model_link_cycle(
    eta_a: float,
    eta_b: float,
    classical_ms: float,
    length_km: float,
    frequency_hz: float,
    initiator_primary: bool,
    same_detector: float = 1.0,
) -> tuple[float, float]:
    """``link_cycle`` of a link described as the network model describes it.

    The delays as the twin builds them (qndt/build.py, SeQUeNCe's RouterNetTopo): the
    ends talk over the classical channel (``c``, whole picoseconds, at least 1), the BSM
    sits mid-fibre (photons take ``L/2`` of fibre) and each end hears it after half the
    ends' classical delay (``m = c // 2``).
    """
    c, q, m, period = _model_delays(classical_ms, length_km, frequency_hz)
    return link_cycle(eta_a, eta_b, c, q, m, period, initiator_primary, same_detector)


def success_cycle_s(
    classical_ms: float, length_km: float, frequency_hz: float, initiator_primary: bool
) -> float:
    """Duration (s) of a *successful* cycle (``B + A`` in ``link_cycle``): both rounds.

    Longer than the mean cycle (a failure usually ends after round 1), so the time to a
    link's first pair is this plus a geometric number of failed cycles, not a geometric
    number of mean cycles: the maximum over two or more links is shorter than the
    fixed-cycle sum gives (~4% for two equal links at 10 km).
    """
    c, q, m, period = _model_delays(classical_ms, length_km, frequency_hz)
    restart = 2 * c if initiator_primary else c
    a = max(q + m + c, period) + c
    b = max(q + m + restart + c, period) + c
    return (a + b) * 1e-12


def hop_cycle(
    efficiency: tuple[float, float],
    detector: tuple[float, float],
    length_km: float,
    attenuation_db_per_km: float,
    classical_ms: float,
    frequency_hz: float,
    initiator_primary: bool,
) -> tuple[float, float, float]:
    """(success, mean s, successful cycle s) of a link from its ends' memory and
    detector efficiencies (``model_link_cycle``, ``success_cycle_s``).

    Each end's photon reaches the BSM mid-fibre with its memory's efficiency and is
    detected with the mean of the two ends' detector efficiencies (each node gives one
    of the station's two detectors). The planner (from the agents' data) and the twin
    (from the network model) both describe a link this way.
    """
    mean = link_detector_efficiency(*detector)
    eta_a, eta_b = (
        detection_probability(e, length_km, attenuation_db_per_km, mean) for e in efficiency
    )
    p, tau = model_link_cycle(
        eta_a, eta_b, classical_ms, length_km, frequency_hz, initiator_primary,
        same_detector_factor(*detector),
    )  # fmt: skip
    return p, tau, success_cycle_s(classical_ms, length_km, frequency_hz, initiator_primary)


# -- paths ----------------------------------------------------------------------------------


def parallel_links_time(
    cycles: Sequence[tuple[float, float]],
    tail: float = 1e-9,
    firsts: Sequence[float] | None = None,
) -> float:
    """Expected time until every link of a path holds a pair, links working in parallel.

    ``cycles`` gives each link's (success probability, duration) per cycle: link ``i``
    is ready after ``N_i`` cycles, ``N_i`` geometric, i.e. at ``first_i + (N_i - 1)
    tau_i`` (``firsts`` default: ``tau_i``; a successful cycle may be longer than a failed
    one, ``success_cycle_s``). The swaps wait for the last link, so the path's
    generation time is ``E[max_i]``, the integral of ``1 - prod_i P(ready_i <= t)``, a
    step function summed exactly (to a survival of ``tail``). One link: its mean time.
    Exponential times with the same means would overestimate it (10% on a 21 km + 6 km
    path): a cycle's duration is not memoryless. Below ``RARE`` success per cycle the
    sum would take millions of steps, and the exponential limit is exact enough:
    inclusion-exclusion over the rates.
    """
    if not cycles:
        return 0.0
    if any(p <= 0 or tau <= 0 for p, tau in cycles):
        return math.inf
    first = list(firsts) if firsts is not None else [tau for _, tau in cycles]
    if min(p for p, _ in cycles) < RARE:
        rates = [p / (tau + p * (f - tau)) for (p, tau), f in zip(cycles, first, strict=True)]
        return sum(
            (-1) ** (k + 1) / sum(subset)
            for k in range(1, len(rates) + 1)
            for subset in itertools.combinations(rates, k)
        )
    heap = [(f, i) for i, f in enumerate(first)]
    heapq.heapify(heap)
    done = [0.0] * len(cycles)  # P(link i ready by now)
    total, now, survival = 0.0, 0.0, 1.0
    while survival > tail:
        t, i = heapq.heappop(heap)
        total += survival * (t - now)
        now = t
        p, tau = cycles[i]
        done[i] = 1 - (1 - done[i]) * (1 - p)
        heapq.heappush(heap, (t + tau, i))
        survival = 1 - math.prod(done)
    return total
