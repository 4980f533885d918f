"""The BBM92 key-rate arithmetic of qnms.service.qkd, checked against the formulas."""

from __future__ import annotations

import math

import pytest

from qnms.service.qkd import (
    EC_EFFICIENCY,
    KeyYield,
    binary_entropy,
    qber_threshold,
    qber_werner,
    secret_bits_per_pair,
    secret_fraction,
    secret_key_rate,
)


def test_binary_entropy_is_one_bit_at_one_half_and_zero_at_the_ends() -> None:
    assert binary_entropy(0.5) == pytest.approx(1.0)
    assert binary_entropy(0.0) == 0.0 and binary_entropy(1.0) == 0.0
    p = 0.05
    assert binary_entropy(p) == pytest.approx(-p * math.log2(p) - (1 - p) * math.log2(1 - p))


def test_werner_qber_is_two_thirds_of_the_infidelity() -> None:
    assert qber_werner(1.0) == 0.0
    assert qber_werner(0.97) == pytest.approx(0.02)
    assert qber_werner(0.25) == pytest.approx(0.5)


def test_secret_fraction_subtracts_privacy_amplification_and_ec_leakage() -> None:
    q = 0.02
    h = binary_entropy(q)
    assert secret_fraction(q) == pytest.approx(1 - h - EC_EFFICIENCY * h)
    assert secret_fraction(0.0) == 1.0


def test_no_key_above_the_threshold_and_the_threshold_solves_the_formula() -> None:
    t = qber_threshold()
    assert (1 + EC_EFFICIENCY) * binary_entropy(t) == pytest.approx(1.0, abs=1e-9)
    assert 0.09 < t < 0.11
    assert qber_threshold(1.0) == pytest.approx(0.110, abs=1e-3)  # the textbook 11 %
    assert secret_fraction(t + 0.001) == 0.0
    assert secret_fraction(0.2) == 0.0


def test_a_pair_yields_half_the_secret_fraction_after_sifting() -> None:
    f = 0.98
    assert secret_bits_per_pair(f) == pytest.approx(0.5 * secret_fraction(qber_werner(f)))
    assert secret_key_rate(1000.0, f) == pytest.approx(1000 * secret_bits_per_pair(f))


def test_key_yield_hands_out_exactly_the_whole_bytes_the_physics_allows() -> None:
    y = KeyYield()
    taken = 0
    for _ in range(1000):
        y.add(0.97, 3)
        taken += y.take_bytes()
    assert taken == int(3000 * secret_bits_per_pair(0.97) // 8)
    assert y.producing


def test_key_yield_says_when_the_link_makes_no_key() -> None:
    y = KeyYield()
    y.add(0.8, 100)  # QBER 13 %
    assert y.take_bytes() == 0
    assert not y.producing and y.above_threshold == 100
