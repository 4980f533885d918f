"""Equivalent, faster replacements for SeQUeNCe 1.3.1 hot paths (issue 14: real time).

Profiling the link tier (docs/qndt-realtime.md) showed that, once photons are no longer
simulated, a large share of the CPU time per event went to SeQUeNCe bookkeeping whose
result the twin never sees, or which SeQUeNCe computes the slow way:

* every memory state schedules a new expiry ``Event`` (and ``Process``) and every reset
  leaves the old one invalid in the heap for a coherence time: each memory now has one
  expiry event scheduled again in place, the heap's keys and order unchanged
  (fastheap.expire_at; ``_schedule_expiration`` and the moves below);
* ``EventList.update_event_time`` scans the whole event heap (``id()`` of every event) to
  move one memory's expiry after a swap: here the old event is invalidated and a new one
  with the same process and priority is pushed, O(log n), when the old one is certainly
  still pending (the scan is kept for the rare case where that is not known);
* log strings: ``log.logger.info(f"... {msg}")`` formats every message, reservation and
  rule (``ResourceManagerMessage.__str__`` alone was ~5% of a run) although the logger has
  no handler; their ``__str__`` returns a short tag unless SeQUeNCe's logger is enabled
  for INFO, in which case the original text is built as before;
* ``KetState.__init__`` checks the amplitudes with Python loops over numpy scalars; the
  same checks (1-D, every ``|a| <= 1 + EPSILON``, squared norm close to 1, ``2^n``
  amplitudes for ``n`` keys) are made vectorised, with the same exceptions;
* ``ResourceManager._record_memory_update`` counts every memory's state after each update
  to record a metric that is disabled: skipped while metrics are off for that event type;
* ``MemoryManager.get_info_by_memory`` searches the memory array with ``list.index``: an
  identity map instead (fastcascade.py, with the rest of ``ResourceManager.update``'s
  cascade: one info lookup per update, conditions called directly, log strings of
  ``MemoryManager.update``, ``Rule.do`` and ``RuleManager.send_request`` built only
  when logged, ``Memory.reset``'s ``|0>`` made without re-checking it);
* the ket-vector quantum manager's circuits and measurements (fastket.py);
* ``ResourceManager.update`` asks every rule of the node whether it applies to the
  updated memory; every condition of SeQUeNCe (and of linkpurify.py) first requires the
  memory's index to be in the rule's ``memory_indices``, so rules that do not list it are
  skipped before the call (rules without ``memory_indices`` are still asked); the rules
  of each memory index are kept per rule manager until a rule is loaded or expired
  (fastcascade.rules_of);
* the timeline's event heap compares ``Event`` objects with a Python ``__lt__`` (~12 calls
  per push or pop in a heap of thousands of invalidated expiries): a new ``Timeline``
  gets a heap of ``(time, priority, event)`` entries instead, the same comparisons made in
  C, the same heap shape and pop order (fastheap.py);
* ``RouterNetTopo._generate_forwarding_table`` (static routing, at build) calls networkx's
  ``dijkstra_path`` once per ordered pair of routers, each a Dijkstra from scratch: 9,900
  searches and ~5 s of CPU on a 100-node mesh, the bulk of building it. ``dijkstra_path``
  in that module is replaced by one that runs one full Dijkstra per source
  (``single_source_dijkstra_path``) and answers every destination from it: the same
  paths, since networkx's search with a target stops right after fixing the target's
  path and runs the same steps until then.

Each replacement keeps SeQUeNCe's behaviour (same results, same random draws, same
events at the same times); tests/qndt/test_fastpaths.py checks each against the
original. One known exception: after an expiry move, two live expiries due at the same
instant may pop in the other order (``update_expire_time``). They are process-wide, like
SeQUeNCe's own registries: ``install`` is idempotent, ``uninstall`` restores the
originals.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable
from typing import Any

import networkx as nx
import numpy as np
from sequence.components.memory import Memory
from sequence.constants import EPSILON
from sequence.entanglement_management.purification.purification_protocol import BBPSSWMessage
from sequence.entanglement_management.swapping.swapping_base import EntanglementSwappingMessage
from sequence.kernel.event import Event
from sequence.kernel.quantum_manager.ket_vector import QuantumManagerKet
from sequence.kernel.quantum_state.ket_vector import KetState
from sequence.kernel.timeline import Timeline
from sequence.network_management.reservation import Reservation
from sequence.resource_management.memory_manager import MemoryManager
from sequence.resource_management.resource_manager import (
    ResourceManager,
    ResourceManagerMessage,
)
from sequence.resource_management.rule_manager import Rule, RuleManager
from sequence.topology import router_net_topo
from sequence.utils import log, metrics
from sequence.utils.metrics.event_types import EventTypes

from . import fastcascade, fastheap, fastket

_ORIGINALS: dict[tuple[Any, str], Any] = {}
LOGGED = (
    ResourceManagerMessage,
    Reservation,
    Rule,
    RuleManager,
    EntanglementSwappingMessage,
    BBPSSWMessage,
)


# -- memory expiry: O(log n) instead of a scan of the event heap ---------------------------
def update_expire_time(self: Memory, time: int) -> None:
    """``Memory.update_expire_time`` without ``EventList.update_event_time``'s heap scan.

    SeQUeNCe moves the pending expiry event itself; here, when the old event is certainly
    still in the heap and valid (its time is in the future), it is invalidated and a new
    event with the same process and priority takes its place (``expiration_event``); the
    memory's one ``Expiry`` (fastheap.expire_at) gets a new heap entry instead, the old
    entry stale. Either way the moved event's old entry stays where SeQUeNCe sifts the
    event itself, so two live expiries due at one instant may pop in the other order than
    under SeQUeNCe (docs/qndt-realtime.md, fifth pass). An invalidated old event (already
    removed) is left alone; an event due now may already have run: SeQUeNCe's scan decides.
    """
    tl = self.timeline
    now = tl.now()
    time = max(time, now)
    old: Event | None = self.expiration_event
    if old is None:  # SeQUeNCe schedules an expiry here without keeping it; so do we
        original = _ORIGINALS[(Memory, "update_expire_time")]
        original(self, time)
        return
    if old.time == time or old.is_invalid():
        return
    if old.time <= now:
        tl.update_event_time(old, time)
        return
    if type(old) is fastheap.Expiry:  # the memory's one expiry: a new entry, no new event
        fastheap.expire_at(self, time, counted=False)
        return
    old.set_invalid()
    new = Event(time, old.process, old.priority)
    tl.events.push(new)  # not tl.schedule: the process keeps its number, as when moved
    self.expiration_event = new  # type: ignore[assignment]  # SeQUeNCe declares None


def schedule_expiration(self: Memory) -> None:
    """``Memory._schedule_expiration`` with the memory's one expiry (fastheap.expire_at)."""
    tl = self.timeline
    if not isinstance(tl.events, fastheap.KeyedEventList):
        _ORIGINALS[(Memory, "_schedule_expiration")](self)
        return
    old: Event | None = self.expiration_event
    if old is not None:
        tl.remove_event(old)
    fastheap.expire_at(self, tl.now() + int(self.cutoff_ratio * self.coherence_time * 1e12))


# -- log strings built only when SeQUeNCe's logger would use them -----------------------------
def _lazy_str(cls: type) -> Callable[[Any], str]:
    full = _ORIGINALS[(cls, "__str__")]
    short = f"<{cls.__name__}>"

    def __str__(self: Any) -> str:
        if log.logger.isEnabledFor(logging.INFO):
            return str(full(self))
        return short

    return __str__


# -- ket states: the same checks, vectorised --------------------------------------------------
def ket_init(self: KetState, amplitudes: Any, keys: list[int], truncation: int = 1) -> None:
    """``KetState.__init__`` with its checks made without per-amplitude numpy scalars."""
    if truncation != 1:
        _ORIGINALS[(KetState, "__init__")](self, amplitudes, keys, truncation)
        return
    self.truncation = truncation
    amps = np.array(amplitudes, dtype=complex)
    if amps.ndim != 1:
        raise ValueError("Ket state must be a 1D state vector.")
    if type(amplitudes) in (list, tuple) and len(amplitudes) <= 4:  # resets, Bell vectors
        mags = [abs(complex(a)) for a in amplitudes]  # Python floats: no numpy scalars
        too_big = any(m > 1 + EPSILON for m in mags)
        norm = math.fsum(m * m for m in mags)
    else:
        magnitudes = np.abs(amps)
        too_big = bool((magnitudes > 1 + EPSILON).any())
        norm = float((magnitudes * magnitudes).sum())
    assert not too_big, "Illegal value with abs > 1 in ket vector"
    assert math.isclose(norm, 1), "Squared amplitudes do not sum to 1"
    n = len(amps)
    qubits = n.bit_length() - 1
    assert n == 1 << qubits, (
        "Length of amplitudes should be d ** n, where d is subsystem Hilbert space dimension "
        f"and n is the number of subsystems. Actual amplitude length: {n}, dim: 2"
    )
    assert qubits == len(keys), (
        "Length of amplitudes should be d ** n, where d is subsystem Hilbert space dimension "
        f"and n is the number of subsystems. Amplitude length: {n}, expected subsystems: "
        f"{qubits}, num keys: {len(keys)}"
    )
    self.state = amps
    self.keys = keys


# -- resource manager ---------------------------------------------------------------------
def record_memory_update(self: ResourceManager) -> None:
    """``_record_memory_update`` only while metrics record MEMORY_UPDATE."""
    if metrics._enabled and EventTypes.MEMORY_UPDATE in metrics._enabled_events:
        _ORIGINALS[(ResourceManager, "_record_memory_update")](self)


def rule_load(self: RuleManager, rule: Rule) -> bool:
    """``RuleManager.load``, dropping the rules-per-memory cache (fastcascade.rules_of)."""
    self.__dict__.pop("_qnms_rules", None)
    return bool(_ORIGINALS[(RuleManager, "load")](self, rule))


def rule_expire(self: RuleManager, rule: Rule) -> Any:
    """``RuleManager.expire``, dropping the rules-per-memory cache (fastcascade.rules_of)."""
    self.__dict__.pop("_qnms_rules", None)
    return _ORIGINALS[(RuleManager, "expire")](self, rule)


# -- the event heap: keyed entries, compared in C --------------------------------------------
def timeline_init(self: Timeline, *args: Any, **kwargs: Any) -> None:
    """``Timeline.__init__``, then its (empty) event list as a ``KeyedEventList``."""
    _ORIGINALS[(Timeline, "__init__")](self, *args, **kwargs)
    self.events = fastheap.KeyedEventList(self.events)


# -- static routing tables: one Dijkstra per source, not per pair ---------------------------
_PATHS: weakref.WeakKeyDictionary[nx.Graph, dict[Any, dict[Any, list[Any]]]] = (
    weakref.WeakKeyDictionary()
)


def dijkstra_path(graph: nx.Graph, source: Any, target: Any, weight: str = "weight") -> list[Any]:
    """networkx's ``dijkstra_path`` from one cached single-source search per source.

    Only for ``RouterNetTopo._generate_forwarding_table``, whose graph is a local built
    before the first call and not changed after (the cache holds it weakly).
    """
    if weight != "weight":  # not SeQUeNCe's call: networkx's own
        return list(nx.dijkstra_path(graph, source, target, weight=weight))
    by_source = _PATHS.setdefault(graph, {})
    paths = by_source.get(source)
    if paths is None:
        paths = by_source[source] = nx.single_source_dijkstra_path(graph, source)
    if target not in paths:
        raise nx.NetworkXNoPath(f"Node {target} not reachable from {source}")
    return list(paths[target])


REPLACEMENTS: list[tuple[Any, str, Callable[[], Any]]] = [
    (Memory, "update_expire_time", lambda: update_expire_time),
    (Memory, "_schedule_expiration", lambda: schedule_expiration),
    (KetState, "__init__", lambda: ket_init),
    (ResourceManager, "_record_memory_update", lambda: record_memory_update),
    (MemoryManager, "get_info_by_memory", lambda: fastcascade.info_of),
    (MemoryManager, "update", lambda: fastcascade.memory_update),
    (ResourceManager, "update", lambda: fastcascade.update),
    (Rule, "do", lambda: fastcascade.rule_do),
    (RuleManager, "send_request", lambda: fastcascade.send_request),
    (Memory, "reset", lambda: fastcascade.reset),
    (RuleManager, "load", lambda: rule_load),
    (RuleManager, "expire", lambda: rule_expire),
    (QuantumManagerKet, "run_circuit", lambda: fastket.run_circuit),
    (QuantumManagerKet, "_measure", lambda: fastket.measure),
    (Timeline, "__init__", lambda: timeline_init),
    (router_net_topo, "dijkstra_path", lambda: dijkstra_path),  # a module's name
    *[(cls, "__str__", lambda cls=cls: _lazy_str(cls)) for cls in LOGGED],
]


def install() -> None:
    """Put the faster equivalents in place (idempotent, process-wide)."""
    for cls, name, make in REPLACEMENTS:
        if (cls, name) not in _ORIGINALS:
            _ORIGINALS[(cls, name)] = cls.__dict__[name]
            setattr(cls, name, make())


def uninstall() -> None:
    """Give SeQUeNCe its own implementations back."""
    for (cls, name), original in list(_ORIGINALS.items()):
        setattr(cls, name, original)
        del _ORIGINALS[(cls, name)]


def installed() -> bool:
    return bool(_ORIGINALS)
