"""Entanglement-based QKD (BBM92) on the pairs the twin delivers: how much key they yield.

Why BBM92 and not SeQUeNCe's BB84 + Cascade: the twin already distributes entangled
pairs and reports each delivered pair's fidelity on the bus (``pair-delivered``,
qnms.qndt.bus). Measuring both halves of a Werner pair in randomly chosen bases is
BBM92, so the key a link can make follows directly from what the twin emulates
(distance, loss, memories, swapping, purification, decoherence), with no second
simulation of the same fibre (seed 4.1: the QFP produces the key; seed 5.3.1: the key is
a pre-processed shared state). SeQUeNCe's BB84 would need its own QKD nodes and runs
~4.5 s of wall time per simulated second (STACK-NOTES).

The arithmetic (asymptotic, one-way post-processing, per delivered pair):

* QBER of a Werner pair of fidelity F: ``Q = 2 (1 - F) / 3`` (both bases alike);
* sifting keeps the half of the pairs measured in matching bases: ``1/2``;
* error correction leaks ``f h(Q)`` bits per sifted bit (``f = 1.16``, Cascade-like);
* privacy amplification removes ``h(Q)`` more (phase errors equal bit errors here);
* secret fraction ``r = 1 - h(Q) - f h(Q)``, clipped at 0: no key at all above the
  threshold ``Q*`` with ``(1 + f) h(Q*) = 1`` (about 10.0 % for f = 1.16, 11 % for f = 1);
* secret bits per delivered pair ``= 1/2 r(Q)``.

Emulation boundary: the twin carries fidelities, not measurement outcomes. So the AMOUNT
of key follows the formulas above exactly, but the key BITS are drawn from a CSPRNG
(``secrets``) by one endpoint KME of the link for each delivered batch and handed to the
other endpoint KME over their mutually authenticated KME-to-KME channel (agents/kme),
standing in for the correlated outcomes both would have measured. Nothing here is a
real QKD security proof; finite-size effects are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SIFTING = 0.5
EC_EFFICIENCY = 1.16


def binary_entropy(p: float) -> float:
    """h(p) = -p log2 p - (1 - p) log2 (1 - p); h(0) = h(1) = 0."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -p * math.log2(p) - (1.0 - p) * math.log2(1.0 - p)


def qber_werner(fidelity: float) -> float:
    """The quantum bit error rate of a Werner pair of the given fidelity."""
    f = min(1.0, max(0.0, fidelity))
    return 2.0 * (1.0 - f) / 3.0


def secret_fraction(qber: float, ec_efficiency: float = EC_EFFICIENCY) -> float:
    """Secret bits per sifted bit: ``1 - h(Q) - f h(Q)``, never below 0."""
    h = binary_entropy(qber)
    return max(0.0, 1.0 - h - ec_efficiency * h)


def qber_threshold(ec_efficiency: float = EC_EFFICIENCY) -> float:
    """The QBER above which no key is left (bisection of ``(1 + f) h(Q) = 1`` on [0, 1/2])."""
    lo, hi = 0.0, 0.5
    for _ in range(60):
        mid = (lo + hi) / 2
        if (1.0 + ec_efficiency) * binary_entropy(mid) < 1.0:
            lo = mid
        else:
            hi = mid
    return lo


def secret_bits_per_pair(fidelity: float, ec_efficiency: float = EC_EFFICIENCY) -> float:
    """Secret key bits one delivered pair of this fidelity is worth (sifting included)."""
    return SIFTING * secret_fraction(qber_werner(fidelity), ec_efficiency)


def secret_key_rate(
    pair_rate: float, fidelity: float, ec_efficiency: float = EC_EFFICIENCY
) -> float:
    """Secret bits per second from ``pair_rate`` delivered pairs per second."""
    return pair_rate * secret_bits_per_pair(fidelity, ec_efficiency)


@dataclass
class KeyYield:
    """Running account of one link's key: pairs in, whole secret bytes out.

    Fractional bits carry over between batches, so the bytes taken over a run equal
    ``floor(sum of secret_bits_per_pair / 8)`` exactly: the amount follows the physics.
    """

    ec_efficiency: float = EC_EFFICIENCY
    pairs: int = 0
    secret_bits: float = 0.0  # produced, including the fraction not yet taken
    taken_bytes: int = 0
    last_qber: float = 0.0
    above_threshold: int = 0  # pairs whose QBER left no key
    _fidelity_sum: float = field(default=0.0, repr=False)

    def add(self, fidelity: float, count: int = 1) -> None:
        bits = secret_bits_per_pair(fidelity, self.ec_efficiency)
        self.pairs += count
        self.secret_bits += count * bits
        self.last_qber = qber_werner(fidelity)
        self._fidelity_sum += count * fidelity
        if bits == 0.0:
            self.above_threshold += count

    def take_bytes(self) -> int:
        """Whole secret bytes made since the last call."""
        whole = int(self.secret_bits // 8) - self.taken_bytes
        self.taken_bytes += whole
        return whole

    @property
    def mean_fidelity(self) -> float:
        return self._fidelity_sum / self.pairs if self.pairs else 0.0

    @property
    def producing(self) -> bool:
        """False while the last pairs' QBER is above the threshold (no key: say so)."""
        return secret_fraction(self.last_qber, self.ec_efficiency) > 0.0
