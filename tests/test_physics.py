"""The shared physics (qnms/network/physics.py) against closed forms it must reduce to."""

from __future__ import annotations

import pytest

from qnms.network.pathmodel import swap_partners
from qnms.network.physics import (
    bbpssw_fidelity,
    bbpssw_success,
    expected_rate,
    link_cycle,
    link_detector_efficiency,
    parallel_links_time,
    round_probabilities,
    same_detector_factor,
    success_cycle_s,
    werner_decay,
    werner_swap,
)


def test_one_link_takes_the_inverse_of_its_rate() -> None:
    p, tau = link_cycle(0.5, 0.5, 5e7, 2.5e7, 2.5e7, 5e8, initiator_primary=False)
    assert parallel_links_time([(p, tau)]) == pytest.approx(tau / p, rel=1e-6)
    assert expected_rate(0.5, 0.5, 5e7, 2.5e7, 2.5e7, 5e8, False) == pytest.approx(p / tau)


def test_rare_successes_tend_to_the_exponential_maximum() -> None:
    """Two equal links of small success per cycle: E[max] -> 1.5 / rate."""
    p, tau = 1e-3, 1e-4
    assert parallel_links_time([(p, tau)] * 2) == pytest.approx(1.5 * tau / p, rel=2e-3)
    assert parallel_links_time([(p / 10, tau)] * 2) == pytest.approx(15 * tau / p)
    assert parallel_links_time([(p / 10, tau)] * 3) == pytest.approx(tau / p * 10 * 11 / 6)
    # a certain success every cycle: both ready after exactly one cycle
    assert parallel_links_time([(1.0, tau), (1.0, 2 * tau)]) == pytest.approx(2 * tau)
    assert parallel_links_time([(0.0, tau)]) == float("inf")


def test_werner_formulas() -> None:
    assert werner_swap(1.0, 0.7) == pytest.approx(0.7)
    assert werner_swap(0.25, 0.25) == pytest.approx(0.25)  # never below a mixed state
    assert werner_swap(0.9, 0.9, 0.99) == pytest.approx(0.99 * (0.81 + 0.01 / 3))
    assert werner_decay(0.9, 0.0, 1.0) == 0.9
    assert werner_decay(0.9, 5.0, -1.0) == 0.9  # non-positive coherence: no decay
    assert werner_decay(0.9, 1e6, 1.0) == pytest.approx(0.25)
    assert bbpssw_success(0.9) == bbpssw_success(0.9, 0.9)
    assert bbpssw_fidelity(0.9) == pytest.approx((0.81 + (0.1 / 3) ** 2) / bbpssw_success(0.9))


@pytest.mark.parametrize(("d0", "d1"), [(0.8, 0.8), (1.0, 0.4), (0.3, 0.9)])
def test_round_one_with_one_detector_from_each_end(d0: float, d1: float) -> None:
    """Against an enumeration of SeQUeNCe's single-atom BSM: each photon reaches the
    station with x, picks either detector with 1/2, registers with that detector's
    efficiency; a second photon on the same detector is inside its dead time."""
    xa, xb = 0.8, 0.6

    def photon(x: float) -> list[tuple[int | None, float]]:
        """(detector that registers it or None, probability) of one photon."""
        return [(None, 1 - x + x * ((1 - d0) + (1 - d1)) / 2), (0, x * d0 / 2), (1, x * d1 / 2)]

    one_click = sum(
        pa * pb
        for (ka, pa) in photon(xa)
        for (kb, pb) in photon(xb)
        if (ka is None) != (kb is None) or (ka is not None and ka == kb)
    )
    single = (xa + xb) / 2 * (d0 + d1) / 2  # one memory emitted: its photon registers
    mean = link_detector_efficiency(d0, d1)
    assert mean == pytest.approx((d0 + d1) / 2)
    p_true, p_false, p2 = round_probabilities(xa * mean, xb * mean, same_detector_factor(d0, d1))
    assert p_true == pytest.approx(single / 2)  # |01> or |10>: half of round 1
    assert p_false == pytest.approx(one_click / 4)  # |11>: a quarter of round 1
    assert p2 == pytest.approx(single)


def test_a_successful_cycle_first_keeps_the_mean_and_shortens_the_maximum() -> None:
    """A link's first pair: failed cycles (mostly round 1 only) then a successful one
    (both rounds): the same mean as cycles of the mean length, a smaller E[max]."""
    p, tau = link_cycle(0.5, 0.5, 5e7, 2.5e7, 2.5e7, 5e8, initiator_primary=False)
    success = success_cycle_s(0.05, 10, 2000, initiator_primary=False)
    assert success > tau  # two rounds against the mean of one or two
    failed = (tau - p * success) / (1 - p)
    one = parallel_links_time([(p, failed)], firsts=[success])
    assert one == pytest.approx(tau / p, rel=1e-6)
    two = parallel_links_time([(p, failed)] * 2, firsts=[success] * 2)
    assert one < two < parallel_links_time([(p, tau)] * 2)


def test_the_swap_tree_follows_sequence_rule_order() -> None:
    """SeQUeNCe's rules swap at odd positions of the path reduced to every other node:
    on five nodes 1 joins 0-2, 3 joins 2-4, then 2 joins 0-4; on four, 1 then 2."""
    assert swap_partners(5) == {1: (0, 2), 2: (0, 4), 3: (2, 4)}
    assert swap_partners(4) == {1: (0, 2), 2: (0, 3)}
    assert swap_partners(2) == {}
