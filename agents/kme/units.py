"""Keys reserved for ``qkd-key`` service units: the KME's half of the orchestrator's unit.

The orchestrator (src/qnms/orchestrator/keys.py) provisions a qkd-key service unit by
writing, on the SS agents at both ends, the unit's store entry (service-type qkd-key,
identifier URNs, ``size`` in key bits), the application sessions and, on every KME of
the path, the key-forwarding routes. This module makes that configuration take effect:

* the *master* end is the one whose local endpoint is the first identifier URN (the
  orchestrator lists the unit's originator first). Its KME reserves
  ``ceil(size / key_size)`` keys from the end-to-end store towards the other end's KME
  as soon as the relay has put enough there, and tells the slave's KME of each one as an
  ordinary assignment tagged with the unit;
* the key IDs are UUIDs derived from the unit's identifier (``unit_key_ids``), so a key
  is tied to the unit that paid for it and both ends can name the unit's keys;
* ``enc_keys`` from the master SAE towards the unit's slave SAE, for keys of the unit's
  key size, hands out the unit's reserved keys first;
* the store reports, in key bits as the model's ``size``: ``delivered-units`` (bits made
  available to the unit so far) and ``stored-units`` (bits not yet taken by an SAE), so
  the orchestrator sees the unit reach its size at both ends;
* when the unit leaves the configuration its unused keys go at both ends: the master
  discards their material (one-time-pad material is never reused), the slave drops the
  assignments, so nobody can take them afterwards.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lxml import etree

from qnms_agents.kme.assign import entry
from qnms_agents.kme.kme import Kme
from qnms_agents.ss import E

log = logging.getLogger(__name__)

QKD_KEY = "qkd-key"


def urn_base(urn: str) -> str:
    """The URN without its r-, q- or f-component (RFC 8141): the endpoint it names."""
    for mark in ("?+", "?=", "#"):
        urn = urn.split(mark, 1)[0]
    return urn


def unit_key_ids(identifier: Iterable[str], count: int) -> list[str]:
    """The key IDs of a unit: name-based UUIDs (version 5) under a namespace made from
    the unit's identifier URNs, whose endpoint nonces make it unique."""
    space = uuid.uuid5(uuid.NAMESPACE_URL, "\n".join(identifier))
    return [str(uuid.uuid5(space, str(i))) for i in range(count)]


@dataclass(frozen=True)
class UnitSpec:
    """A qkd-key service unit as the SS agent's running configuration has it."""

    name: str
    local_endpoint: str
    identifier: tuple[str, ...]
    size: int  # key bits

    @property
    def master(self) -> bool:
        return bool(self.identifier) and urn_base(self.identifier[0]) == self.local_endpoint

    def remote_endpoint(self) -> str | None:
        ends = [urn_base(u) for u in self.identifier if not u.startswith("urn:qkd:lifecycle")]
        others = [u for u in ends if u != self.local_endpoint]
        return others[0] if others else None


@dataclass
class UnitKeys:
    """One unit's keys at this KME."""

    spec: UnitSpec
    key_bits: int
    master_sae: str
    slave_sae: str
    peer_kme: str
    ids: list[str]
    issued: int = 0  # keys reserved so far (master) or assigned to this end (slave)
    held: dict[str, bytes] = field(default_factory=dict)  # master: reserved, not taken
    taken: int = 0  # keys an SAE took

    @property
    def count(self) -> int:
        return len(self.ids)


class UnitBook:
    """The qkd-key units configured on one SS agent, and their keys at its KME."""

    def __init__(self, kme: Kme, sae_of_urn: Callable[[str], str | None]) -> None:
        self.kme = kme
        self.sae_of_urn = sae_of_urn
        self.units: dict[str, UnitKeys] = {}
        kme.store_listeners.append(lambda _dest: self.reserve())
        kme.reserved_source = self.take
        kme.on_unit_delivery = self._slave_took

    def configure(self, specs: Iterable[UnitSpec]) -> None:
        """Follow the running configuration: new units start reserving, removed units'
        unused keys are dropped at this end."""
        wanted = {s.name: s for s in specs}
        for name in list(self.units):
            if name not in wanted or wanted[name] != self.units[name].spec:
                self._drop(self.units.pop(name))
        for name, spec in wanted.items():
            if name not in self.units and (unit := self._unit(spec)) is not None:
                self.units[name] = unit
        self.reserve()

    def _unit(self, spec: UnitSpec) -> UnitKeys | None:
        remote = spec.remote_endpoint()
        mine, theirs = self.sae_of_urn(spec.local_endpoint), self.sae_of_urn(remote or "")
        peer = self.kme.directory.get(theirs or "")
        if mine is None or theirs is None or peer is None:
            log.warning("qkd-key unit %s: endpoint %s has no known SAE or KME", spec.name, remote)
            return None
        bits = self.kme.limits.key_size
        count = -(-spec.size // bits)
        master, slave = (mine, theirs) if spec.master else (theirs, mine)
        return UnitKeys(spec, bits, master, slave, peer, unit_key_ids(spec.identifier, count))

    def _drop(self, unit: UnitKeys) -> None:
        gone = [k for k, a in self.kme.assignments.items() if a.unit == unit.spec.name]
        for kid in gone:
            del self.kme.assignments[kid]
        dropped = len(unit.held) + len(gone)
        unit.held.clear()
        log.info("qkd-key unit %s removed: %d unused key(s) dropped", unit.spec.name, dropped)

    def reserve(self) -> int:
        """Master ends: reserve keys from the end-to-end store for units short of their
        size, and tell the slave's KME; keys reserved."""
        made = 0
        for unit in self.units.values():
            if not unit.spec.master or unit.issued >= unit.count:
                continue
            store = self.kme.stores.get(unit.peer_kme)
            nbytes = unit.key_bits // 8
            assigned = []
            while store is not None and unit.issued < unit.count:
                got = store.mine.allocate(nbytes)
                if got is None:
                    break
                kid = unit.ids[unit.issued]
                unit.issued += 1
                unit.held[kid] = got[1]
                assigned.append(entry(kid, got[0]))
            if assigned:
                self.kme.queue_assignments(
                    unit.peer_kme, unit.master_sae, [unit.slave_sae], assigned, unit.spec.name
                )
                made += len(assigned)
                log.info("qkd-key unit %s: %d key(s) reserved", unit.spec.name, len(assigned))
        return made

    def take(
        self, master: str, slaves: list[str], number: int, size_bits: int
    ) -> list[tuple[str, bytes]] | None:
        """``enc_keys``: the reserved keys of a unit of this master and slave, if one
        holds ``number`` keys of ``size_bits``; None otherwise (the general store serves)."""
        for unit in self.units.values():
            if (
                unit.spec.master
                and unit.master_sae == master
                and slaves == [unit.slave_sae]
                and size_bits == unit.key_bits
                and len(unit.held) >= number
            ):
                ids = list(unit.held)[:number]
                unit.taken += number
                return [(kid, unit.held.pop(kid)) for kid in ids]
        return None

    def _slave_took(self, unit_name: str) -> None:
        unit = self.units.get(unit_name)
        if unit is not None:
            unit.taken += 1

    def assigned(self, unit: UnitKeys) -> int:
        """Slave end: the unit's keys told to this KME and not yet taken."""
        return sum(1 for a in self.kme.assignments.values() if a.unit == unit.spec.name)

    def store(self, name: str) -> etree._Element | None:
        """The ``store`` of a qkd-key unit, in key bits; None if it is not one of ours."""
        unit = self.units.get(name)
        if unit is None:
            return None
        held_ids = (
            list(unit.held)
            if unit.spec.master
            else [k for k, a in self.kme.assignments.items() if a.unit == name]
        )
        made = len(held_ids) + unit.taken
        out = E(
            "store",
            E("stored-units", str(len(held_ids) * unit.key_bits)),
            E("delivered-units", str(made * unit.key_bits)),
        )
        for kid in held_ids:
            out.append(E("unit", E("id", kid), E("size", str(unit.key_bits))))
        return out


def unit_specs(config: etree._Element | None) -> list[UnitSpec]:
    """The qkd-key units of an SS agent's running ``service-stratum``."""
    out = []
    for su in E.find(config, "service-units/service-unit"):
        kind = E.text(su, "service-type").rsplit(":", 1)[-1]
        if kind != QKD_KEY:
            continue
        out.append(
            UnitSpec(
                name=E.text(su, "name"),
                local_endpoint=E.text(su, "local-endpoint"),
                identifier=tuple(i.text or "" for i in E.find(su, "identifier")),
                size=int(E.text(su, "lifecycle/size", "0")),
            )
        )
    return out
