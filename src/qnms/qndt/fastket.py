"""Bit-identical, faster ket-vector operations for the twin's small states (issue 14).

After the link tier removed the photons, SeQUeNCe's ket-vector quantum manager was the
largest remaining cost of a run (~35% of the CPU time on the default network): every
swap joins two 2-qubit states with ``np.kron``, applies two gates with ``np.moveaxis``
contractions and measures two qubits the same way, and every heralded pair is drawn with
``Generator.choice``. Each numpy call costs microseconds of Python overhead on arrays of
4 to 16 amplitudes. The replacements here perform the *same floating-point operations in
the same order* with fewer calls, so states, measurement outcomes and random draws are
identical bit for bit (tests/qndt/test_fastpaths.py compares them with SeQUeNCe's):

* joining states: ``np.kron`` of 1-D vectors is their outer product, flattened;
* a gate on some qubits: SeQUeNCe moves those axes to the front, multiplies by the gate
  and moves them back; a cached index permutation gathers and scatters the same
  amplitudes around the same matrix product;
* measuring: the same gather, then SeQUeNCe's Born probabilities, cumulative sum (in
  Python, sequentially, as numpy's ``cumsum``) and search;
* ``set_bell_state``: ``_set_state_with_fidelity`` for the ket formalism without
  ``Generator.choice`` (whose one uniform draw, cumulative distribution normalised by its
  last entry and right-sided search are reproduced) and without re-validating one of
  SeQUeNCe's four constant Bell vectors.

Each computation is also made only once (sixth pass, docs/qndt-realtime.md): the twin's
states are a handful of vectors (Bell states, basis states and the branches of swapping
them), so the same circuit on the same amplitudes at the same positions recurs thousands
of times a second. ``run_circuit`` keys its result on exactly what it depends on (the
circuit, the positions of the keys it acts on, each joined state's amplitude bytes) and
a measurement its probabilities and branches on the measured state's bytes and axes;
a repeat reuses the floats the first computation produced, which numpy's deterministic
arithmetic would reproduce bit for bit. Every state handed out is a fresh array.

Installed with fastpaths.install (process-wide, restored by fastpaths.uninstall).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from sequence.components.bsm import BSM, _set_state_with_fidelity
from sequence.kernel.quantum_gates import SUPPORTED_GATES, gate_matrix
from sequence.kernel.quantum_manager.base import QuantumManager
from sequence.kernel.quantum_manager.ket_vector import QuantumManagerKet
from sequence.kernel.quantum_manager.utils import validate_circuit_run
from sequence.kernel.quantum_state.ket_vector import KetState

if TYPE_CHECKING:
    from sequence.components.circuit import Circuit

BELL = [
    np.array(BSM._phi_plus, dtype=complex),
    np.array(BSM._phi_minus, dtype=complex),
    np.array(BSM._psi_plus, dtype=complex),
    np.array(BSM._psi_minus, dtype=complex),
]
BASIS = (np.array([1, 0], dtype=complex), np.array([0, 1], dtype=complex))
MEMO_LIMIT = 4096
# circuit runs and measurements already computed, by what their result depends on
_EVOLVED: dict[Any, np.ndarray] = {}
_PREPARED: dict[Any, _Prepared] = {}
_BOUNDS: dict[float, tuple[float, ...]] = {}  # set_bell_state's distribution per fidelity


@lru_cache(maxsize=256)
def axes_first(k: int, axes: tuple[int, ...]) -> np.ndarray:
    """Flat indices ordering a ``k``-qubit state with ``axes`` first (as np.moveaxis)."""
    grid = np.arange(2**k).reshape((2,) * k)
    order: np.ndarray = np.moveaxis(grid, list(axes), list(range(len(axes)))).reshape(-1)
    return order


def _ket(amplitudes: np.ndarray, keys: list[int]) -> KetState:
    """A KetState of amplitudes SeQUeNCe's own arithmetic produced (already checked
    by construction: a unitary image or a renormalised branch of a checked state)."""
    state = KetState.__new__(KetState)
    state.truncation = 1
    state.state = amplitudes
    state.keys = keys
    return state


def apply_gate(state: np.ndarray, k: int, axes: tuple[int, ...], gate: np.ndarray) -> np.ndarray:
    """``ket_vector._apply`` on a flat ``k``-qubit state: same products, same sums."""
    order = axes_first(k, axes)
    m = len(axes)
    out = np.empty_like(state)
    out[order] = (gate @ state[order].reshape(2**m, -1)).reshape(-1)
    return out


def run_circuit(
    self: QuantumManagerKet, circuit: Circuit, keys: list[int], meas_samp: float | None = None
) -> dict[int, int]:
    """``QuantumManagerKet.run_circuit`` (SeQUeNCe 1.3.1) with the operations above, each
    distinct computation made once (``_EVOLVED``)."""
    unsupported = [g[0] for g in circuit.gates if g[0] not in SUPPORTED_GATES]
    if unsupported:
        raise NotImplementedError(
            f"QuantumManagerKet.run_circuit received unsupported gate(s): {unsupported}"
        )
    validate_circuit_run(circuit, keys, meas_samp)
    states = self.states
    seen: set[int] = set()
    all_keys: list[int] = []
    parts: list[np.ndarray] = []
    for key in keys:
        qstate = states[key]
        if id(qstate) not in seen:
            seen.add(id(qstate))
            parts.append(np.asarray(qstate.state))  # a view, already complex
            all_keys += qstate.keys
    position = {key: i for i, key in enumerate(all_keys)}
    # what the result depends on: the gates (the circuit, never changed once built), the
    # positions of the keys they act on and the amplitudes, state by state
    memo = (circuit, tuple(position[key] for key in keys), *(p.tobytes() for p in parts))
    found = _EVOLVED.get(memo)
    if found is None:
        found = _remember(_EVOLVED, memo, _evolve(circuit, keys, parts, position))
    if not circuit.measured_qubits:
        new = _ket(found.copy(), all_keys)
        for key in all_keys:
            states[key] = new
        return {}
    assert meas_samp is not None  # validate_circuit_run checked it
    measured = [keys[i] for i in circuit.measured_qubits]
    axes = tuple(position[key] for key in measured)
    prep = _PREPARED.get((memo, axes))
    if prep is None:
        prep = _remember(_PREPARED, (memo, axes), _Prepared(found, len(all_keys), axes))
    return prep.collapse(self, measured, all_keys, meas_samp)


def _evolve(
    circuit: Circuit, keys: list[int], parts: list[np.ndarray], position: dict[int, int]
) -> np.ndarray:
    """The joint state of ``parts`` after the circuit's gates (SeQUeNCe's arithmetic)."""
    state = np.array([1], dtype=complex)
    for amplitudes in parts:
        state = np.multiply.outer(state, amplitudes).reshape(-1)  # == np.kron
    k = len(position)
    gates: list[tuple[str, list[int], float | None]] = circuit.gates  # type: ignore[assignment]  # SeQUeNCe types each entry as a union
    for name, indices, arg in gates:
        axes = tuple(position[keys[i]] for i in indices)
        state = apply_gate(state, k, axes, gate_matrix(name, arg))
    return state


def measure(
    self: QuantumManagerKet,
    state: np.ndarray,
    keys: list[int],
    all_keys: list[int],
    meas_samp: float,
) -> dict[int, int]:
    """``QuantumManagerKet._measure``: the same probabilities, outcome and branches."""
    arr = np.asarray(state, dtype=complex).reshape(-1)
    axes = tuple(all_keys.index(key) for key in keys)
    memo = (arr.tobytes(), axes)
    prep = _PREPARED.get(memo)
    if prep is None:
        prep = _remember(_PREPARED, memo, _Prepared(arr, len(all_keys), axes))
    return prep.collapse(self, keys, all_keys, meas_samp)


class _Prepared:
    """One state measured on some axes: SeQUeNCe's Born probabilities and, per outcome,
    its bits and the renormalised branch, each computed once."""

    __slots__ = ("branches", "outcomes", "probs", "rows", "table")

    def __init__(self, arr: np.ndarray, k: int, axes: tuple[int, ...]) -> None:
        m = len(axes)
        self.rows = arr[axes_first(k, axes)].reshape(2**m, -1)
        self.table = np.sum(self.rows.conjugate() * self.rows, axis=1).real
        self.probs: list[float] = self.table.tolist()
        self.outcomes = [[(result >> (m - 1 - i)) & 1 for i in range(m)] for result in range(2**m)]
        self.branches: dict[int, np.ndarray] = {}

    def collapse(
        self, qm: QuantumManagerKet, keys: list[int], all_keys: list[int], meas_samp: float
    ) -> dict[int, int]:
        """Draw the outcome from ``meas_samp``; measured keys to basis states, the rest to
        the branch (fresh arrays: states are never shared between calls)."""
        result = _search(self.probs, meas_samp)
        bits = self.outcomes[result]
        states = qm.states
        for key, bit in zip(keys, bits, strict=True):
            states[key] = _ket(BASIS[bit].copy(), [key])
        if len(all_keys) > len(keys):
            rest = [key for key in all_keys if key not in keys]
            branch = self.branches.get(result)
            if branch is None:
                branch = (self.rows[result] / np.sqrt(self.table[result])).reshape(-1)
                self.branches[result] = branch
            new = _ket(branch.copy(), rest)
            for key in rest:
                states[key] = new
        return dict(zip(keys, bits, strict=True))


def _remember[V](memo: dict[Any, V], key: Any, value: V) -> V:
    """Store ``value``; a full memo starts again (a run needs a few dozen entries)."""
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


def _search(probs: list[float], sample: float) -> int:
    """``searchsorted(cumsum(probs) with its last entry set to 1, sample, side='right')``."""
    total = 0.0
    last = len(probs) - 1
    for i, p in enumerate(probs):
        total = 1.0 if i == last else total + p
        if total > sample:
            return i
    return len(probs)


def set_bell_state(keys: list[int], fidelity: float, rng: Any, qm: QuantumManager) -> None:
    """``bsm._set_state_with_fidelity(keys, BSM._phi_plus, fidelity, rng, qm)``, ket only.

    Phi+ with probability ``fidelity``, each other Bell state with ``(1 - fidelity) / 3``,
    drawn as ``rng.choice(4, p=...)`` draws it: one uniform sample against the cumulative
    distribution divided by its last entry, right-sided search (the normalised
    distribution computed once per fidelity: a run has a handful).
    """
    if type(qm) is not QuantumManagerKet and not isinstance(qm, QuantumManagerKet):
        _set_state_with_fidelity(keys, BSM._phi_plus, fidelity, rng, qm)
        return
    bounds = _BOUNDS.get(fidelity)
    if bounds is None:
        bounds = _remember(_BOUNDS, fidelity, _bell_bounds(fidelity))
    u = rng.random()  # < 1 = cdf[-1] / last: some index qualifies
    index = 0
    while bounds[index] <= u:
        index += 1
    new = _ket(BELL[index].copy(), keys)
    for key in keys:
        qm.states[key] = new


def _bell_bounds(fidelity: float) -> tuple[float, ...]:
    """``Generator.choice``'s normalised cumulative distribution of the four Bell states."""
    other = (1 - fidelity) / 3
    cdf = [fidelity, fidelity + other]
    cdf.append(cdf[-1] + other)
    cdf.append(cdf[-1] + other)
    last = cdf[-1]
    return tuple(c / last for c in cdf)
