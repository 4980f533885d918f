"""Faster, equivalent steps of SeQUeNCe's state-change cascade (issue 14, fourth pass).

What is left per delivered pair once photons, swaps and pairing messages are folded
(docs/qndt-realtime.md) is SeQUeNCe's cascade under ``ResourceManager.update``: a memory
changes state, every rule listing it is asked whether it applies, the one that does
creates and attaches a protocol, and a reset memory gets a fresh ``|0>`` state. The
profile of default x4 is flat (no function above ~5% of a run by its own time); what
SeQUeNCe does generically there, and the twin's use makes predictable:

* each update looks the memory's ``MemoryInfo`` up twice (``MemoryManager.update``, then
  ``ResourceManager.update``), each a dictionary probe through the memory manager: here
  once, from an identity map straight to the info (``info_of``);
* ``MemoryManager.update`` formats a debug message (``f'{memory.name} update to ...'``)
  for a logger that has no handler; ``Rule.do`` and ``RuleManager.send_request`` format
  an INFO message per protocol created and per request: built here only when SeQUeNCe's
  logger is enabled for that level, as it would then be emitted;
* ``Rule.is_valid`` reaches the memory manager through two accessor calls per rule
  asked; ``ResourceManager.update`` already holds it (``rule.rule_manager`` is its own
  rule manager, whose memory manager is its own): the condition is called directly
  (rules of a subclass overriding ``is_valid`` are still asked through it);
* ``Memory.reset`` builds its ``|0>`` through ``QuantumManagerKet.set`` and
  ``KetState.__init__``, checking amplitudes known to be valid: the same state (a fresh
  ``complex`` array ``[1, 0]``, the same keys list) is made directly for the ket manager
  (any other quantum manager gets SeQUeNCe's ``set``). The random draw of ``discard``
  stays, in its place.

Every shim keeps SeQUeNCe's results, random draws and events (tests/qndt/test_fastpaths.py
compares whole runs event for event, and these functions on their own); fastpaths.py
installs them with the others.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from sequence.components.memory import Memory
from sequence.kernel.quantum_manager.ket_vector import QuantumManagerKet
from sequence.kernel.quantum_state.ket_vector import KetState
from sequence.resource_management.memory_manager import MemoryInfo, MemoryManager
from sequence.resource_management.rule_manager import Rule, RuleManager
from sequence.utils import log

if TYPE_CHECKING:
    from sequence.resource_management.resource_manager import ResourceManager

_GROUND = np.array([complex(1), complex(0)], dtype=complex)
_RULE_IS_VALID = Rule.is_valid
_TO_STATE = {
    MemoryInfo.RAW: MemoryInfo.to_raw,
    MemoryInfo.OCCUPIED: MemoryInfo.to_occupied,
    MemoryInfo.ENTANGLED: MemoryInfo.to_entangled,
    MemoryInfo.PURIFIED: MemoryInfo.to_purified,
}


def info_of(manager: MemoryManager, memory: Memory) -> MemoryInfo:
    """``MemoryManager.get_info_by_memory`` through an identity map to the info itself.

    A memory manager's ``memory_map`` is built once with its array (SeQUeNCe never
    rebinds it); a memory not of this array falls back to SeQUeNCe's ``list.index``,
    which raises its ``ValueError``.
    """
    infos: dict[int, MemoryInfo] | None = manager.__dict__.get("_qnms_infos")
    if infos is None:
        infos = {id(info.memory): info for info in manager.memory_map}
        manager._qnms_infos = infos  # type: ignore[attr-defined]  # our cache on SeQUeNCe's object
    found = infos.get(id(memory))
    if found is None:
        return manager.memory_map[manager.memory_array.memories.index(memory)]
    return found


def rules_of(manager: RuleManager, index: int) -> list[Rule]:
    """The rules of ``manager``, in order, that list memory ``index`` (or list none).

    Kept per memory index until the next ``load`` or ``expire`` (fastpaths.rule_load,
    rule_expire) rather than filtered at every update: a node on many allocations' paths
    holds many rules (the mesh). Every condition of SeQUeNCe (and of linkpurify.py) first
    requires the memory's index to be in the rule's ``memory_indices``. The twin only
    ever narrows a loaded rule's ``memory_indices`` (allocation.remove_rules, right before
    expiring it); a rule kept here for an index it no longer lists is asked as SeQUeNCe
    would and its condition refuses the memory.
    """
    cache: dict[int, list[Rule]] | None = manager.__dict__.get("_qnms_rules")
    if cache is None:
        cache = manager._qnms_rules = {}  # type: ignore[attr-defined]  # our cache on SeQUeNCe's object
    found = cache.get(index)
    if found is None:
        found = cache[index] = [
            rule
            for rule in manager.rules
            if (indices := rule.condition_args.get("memory_indices")) is None or index in indices
        ]
    return found


def set_state(manager: MemoryManager, memory: Memory, state: str) -> MemoryInfo:
    """``MemoryManager.update``'s work, returning the info it updated."""
    if log.logger.isEnabledFor(logging.DEBUG):
        log.logger.debug(f"{memory.name} update to {state}")
    info = info_of(manager, memory)
    to_state = _TO_STATE.get(state)
    if to_state is None:
        raise Exception(f"Unknown state '{state}'")  # SeQUeNCe's own exception
    to_state(info)
    return info


def memory_update(self: MemoryManager, memory: Memory, state: str) -> None:
    """``MemoryManager.update`` (one lookup, no log string unless DEBUG is on)."""
    set_state(self, memory, state)


def update(self: ResourceManager, protocol: Any, memory: Memory, state: str) -> None:
    """``ResourceManager.update`` asking only the rules that list the memory's index.

    The body is SeQUeNCe 1.3.1's, except that the memory's info is looked up once, the
    rule loop goes over ``rules_of`` (fastpaths.py) and conditions are called directly.
    """
    memo_info = set_state(self.memory_manager, memory, state)
    if protocol:
        memory.detach(protocol)
        memory.attach(memory.memory_array)
        if protocol.rule and protocol in protocol.rule.protocols:
            protocol.rule.protocols.remove(protocol)
    if protocol in self.owner.protocols:
        self.owner.protocols.remove(protocol)
    if protocol in self.waiting_protocols:
        self.waiting_protocols.remove(protocol)
    if protocol in self.pending_protocols:
        self.pending_protocols.remove(protocol)
    manager = self.memory_manager
    own: Any = self.rule_manager  # SeQUeNCe declares a rule's rule_manager None
    for rule in rules_of(own, memo_info.index):
        if type(rule).is_valid is _RULE_IS_VALID and rule.rule_manager is own:
            memories_info = rule.condition(memo_info, manager, rule.condition_args)
        else:
            memories_info = rule.is_valid(memo_info)
        if len(memories_info) > 0:
            rule.do(memories_info)
            for info in memories_info:
                info.to_occupied()
            self._record_memory_update()
            return
    self.owner.get_idle_memory(memo_info)
    self._record_memory_update()


def rule_do(self: Any, memories_info: list[MemoryInfo]) -> None:
    """``Rule.do``, its INFO message built only when it would be logged.

    ``self`` is a ``Rule`` (typed ``Any``: SeQUeNCe declares its ``rule_manager`` None).
    """
    protocol, req_dsts, req_condition_funcs, req_args = self.action(memories_info, self.action_args)
    if log.logger.isEnabledFor(logging.INFO):
        log.logger.info(f"{self.rule_manager} rule generates protocol {protocol.name}")
    protocol.rule = self
    self.protocols.append(protocol)
    for info in memories_info:
        memory: Any = info.memory  # its memory_array is declared None
        memory.detach(memory.memory_array)
        memory.attach(protocol)
    for dst, req_func, args in zip(req_dsts, req_condition_funcs, req_args, strict=False):
        self.rule_manager.send_request(protocol, dst, req_func, args)


def send_request(
    self: Any, protocol: Any, req_dst: Any, req_condition_func: Any, req_args: Any
) -> Any:
    """``RuleManager.send_request``, its INFO message built only when it would be logged.

    ``self`` is a ``RuleManager`` (typed ``Any``: its ``resource_manager`` is declared None).
    """
    if log.logger.isEnabledFor(logging.INFO):
        log.logger.info(
            f"{self.resource_manager.owner} Rule Manager send request for protocol "
            f"{protocol.name} to {req_dst}"
        )
    return self.resource_manager.send_request(protocol, req_dst, req_condition_func, req_args)


def reset(self: Memory) -> None:
    """``Memory.reset`` with its ``|0>`` made directly for the ket manager."""
    self.fidelity = 0
    self.generation_time = -1
    self.last_update_time = -1
    qm = self.timeline.quantum_manager
    qm.discard(self.qstate_key, self.get_generator().random())
    if type(qm) is QuantumManagerKet:
        keys = [self.qstate_key]
        ground = KetState.__new__(KetState)
        ground.truncation = 1
        ground.state = _GROUND.copy()
        ground.keys = keys
        qm.states[self.qstate_key] = ground
    else:
        qm.set([self.qstate_key], [complex(1), complex(0)])
    self.entangled_memory = {"node_id": None, "memo_id": None}
    expiry: Any = self.expiration_event  # SeQUeNCe declares it None
    if expiry is not None:
        self.timeline.remove_event(expiry)
        self.expiration_event = None
