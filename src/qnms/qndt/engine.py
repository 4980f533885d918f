"""The QNDT engine: one SeQUeNCe timeline, explicit-path allocations, faults, telemetry.

An :class:`Engine` owns the only SeQUeNCe timeline of its process (SeQUeNCe keeps
process-global registries and metrics) and must be driven from one thread. Simulated
time advances only through :meth:`Engine.run_until`, which executes SeQUeNCe events
and the engine's own agenda (requests, faults, window edges, telemetry) in a fixed
order: agenda items before SeQUeNCe events at the same instant. Its loop peeks at the
next event instead of letting ``Timeline.run`` pop and re-push it at the stop time (which
renumbers events and changes message priorities), so results do not depend on how the
run is sliced into steps: the same network, requests (with their times) and seed give
the same results, whatever the wall-clock pacing.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qnms.network.inventory import Network
from qnms.network.model import NetworkModel, as_model

from . import faults, pairing, reach, telemetry
from . import messages as msgs
from .allocation import (
    Allocation,
    AllocationError,
    check_path,
    install_rules,
    pick_memories,
    remove_rules,
)
from .build import build
from .endpoints import EndpointApp
from .fastheap import head_time, live_popper
from .linktier import DEFAULT_MODEL
from .protocols import PS, uninstall
from .recorder import Recorder, Sink

SECOND_PS = 10**12
FINAL = ("completed", "expired", "released", "failed")
INF = float("inf")


class Engine:
    """Emulates a quantum network described by qnms-network instance data."""

    def __init__(
        self,
        network: NetworkModel | Network | dict | str | Path | None = None,
        seed: int = 0,
        sink: Sink | None = None,
        telemetry_period: float | None = 0.1,
        tier: str = DEFAULT_MODEL,
        keep_samples: bool = True,
    ) -> None:
        self.model = as_model(network)
        self.keep_samples = keep_samples  # per-pair lists in each allocation (allocation.py)
        self.seed = seed
        self.tier = tier  # generation model: "full" or "link" (linktier.py)
        self.results: list[tuple[str, dict[str, Any]]] = []
        self.sink: Sink = sink or (lambda topic, msg: self.results.append((topic, msg)))
        self.built = build(self.model, seed, tier)
        if tier == "link":
            pairing.install(self.built.routers)
        self.tl = self.built.tl
        self.rec = Recorder(self.model, self.built, self._emit, tier=tier)
        self.rec.alloc_of = self._alloc_of_proto
        self.apps = {name: EndpointApp(r, self) for name, r in self.built.routers.items()}
        self.allocations: dict[str, Allocation] = {}
        self.by_ident: dict[int, Allocation] = {}
        self.busy: dict[str, set[int]] = {}
        self.down_nodes: set[str] = set()
        self.cut_channels: set[str] = set()
        self._agenda: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._ident = itertools.count(1)
        self.telemetry_period = telemetry_period
        if telemetry_period:
            self.at(int(telemetry_period * SECOND_PS), self._telemetry)
        for mem in self.built.memories.values():
            mem.expire = self._wrap_expire(mem)  # type: ignore[method-assign]  # no expiry hook
        # The network's tens of thousands of SeQUeNCe and numpy objects live as long as the
        # engine; the cyclic GC re-scanned them on every full collection (~20% of the CPU
        # time of a link-tier run). Freeze them out of the collector's generations.
        gc.collect()
        gc.freeze()

    def close(self) -> None:
        """Give SeQUeNCe's process-global protocol registries back their defaults.

        What an engine changes in its process: the protocol class registries (restored
        here), the garbage collector's frozen objects (unfrozen here), numpy's global
        seed (``Timeline.seed``), the metrics time provider (metrics stay disabled) and
        SeQUeNCe's hot paths (fastpaths.py: left in place, they give SeQUeNCe's results;
        ``fastpaths.uninstall`` restores them).
        Every engine sets them when it is built, so several engines may be built one
        after another in one process with identical results; they must not run
        interleaved, and raw SeQUeNCe code run afterwards needs this.
        """
        uninstall()
        gc.unfreeze()  # later engines of this process must not pin this one's objects

    # -- time ---------------------------------------------------------------------
    @property
    def now(self) -> float:
        """Simulated time in seconds."""
        return self.tl.now() * PS

    def at(self, t_ps: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` at simulated time ``t_ps`` (before SeQUeNCe events of that instant)."""
        heapq.heappush(self._agenda, (max(t_ps, self.tl.now()), next(self._seq), fn))

    def next_time(self) -> float:
        """Simulated time (s) of the next pending item: SeQUeNCe event or agenda; inf if none.

        The heap's top may be an invalidated event (SeQUeNCe leaves those until their
        time): the answer is then early, never late, which is what a pacer waiting for it
        needs. Nothing is popped (that would change the heap's later order).
        """
        events, agenda = self.tl.events, self._agenda
        t_ev = head_time(events)() if events.data else INF
        t_ag = agenda[0][0] if agenda else INF
        nxt = min(t_ev, t_ag)
        return INF if nxt == INF else max(nxt, self.tl.now()) * PS

    def run_until(self, t_s: float, wall_deadline: float | None = None) -> bool:
        """Advance simulated time to ``t_s`` seconds; stop early past ``wall_deadline``.

        Returns True when ``t_s`` was reached. Stopping early (between two events) does
        not change any result: the next call carries on from the same event.
        """
        stop = INF if t_s == INF else round(t_s * SECOND_PS)
        tl, agenda = self.tl, self._agenda
        events = tl.events  # SeQUeNCe's EventList, or fastheap's keyed one: the same order
        data, first_time, next_event = events.data, head_time(events), live_popper(events)
        pop = heapq.heappop
        count = ticks = 0
        while True:
            t_ev = first_time() if data else INF
            t_ag = agenda[0][0] if agenda else INF
            if t_ag <= t_ev:
                if t_ag >= stop:
                    break
                t, _, fn = pop(agenda)
                tl.time = max(tl.time, t)
                fn()
                ticks += 1  # agenda items (telemetry) reschedule themselves: count them too
            else:
                if t_ev >= stop:
                    break
                event = next_event()
                if event is None:  # invalid: removed, or a stale expiry entry
                    continue
                tl.time = event.time
                event.process.run()
                count += 1
                ticks += 1
            # every 16 events (~1-3 ms of work): a paced tick overruns its deadline by less
            if wall_deadline is not None and not ticks & 15 and time.monotonic() > wall_deadline:
                tl.run_counter += count
                return False
        tl.run_counter += count
        if isinstance(stop, int):  # not INF
            tl.time = max(tl.time, stop)
        return True

    # -- requests -----------------------------------------------------------------
    def handle(self, request: Any) -> dict[str, Any]:
        """Apply one request (already decoded JSON); returns the reply. Never raises."""
        try:
            req = msgs.validate_request(request)
        except msgs.RequestError as err:
            return msgs.error_reply(request, err.code, str(err))
        try:
            return getattr(self, "_req_" + req["type"].replace("-", "_"))(req)
        except AllocationError as err:
            return msgs.error_reply(req, err.code, str(err))

    def _when(self, req: dict[str, Any]) -> int:
        at = req.get("at")
        return self.tl.now() if at is None else max(self.tl.now(), round(at * SECOND_PS))

    def _req_allocate(self, req: dict[str, Any]) -> dict[str, Any]:
        aid = req["allocation"]
        if aid in self.allocations and self.allocations[aid].state not in FINAL:
            raise AllocationError("duplicate", f"allocation {aid} exists")
        path = req["path"]
        hop_banks = check_path(self.model, path, self.cut_channels)
        swaps = len(path) - 2
        if req.get("max-swaps") is not None and swaps > req["max-swaps"]:
            raise AllocationError(
                "swap-depth", f"path needs {swaps} swaps > cap {req['max-swaps']}"
            )
        start = self._when({"at": req.get("start")})
        end = start + round(req["duration"] * SECOND_PS) if "duration" in req else None
        if req.get("end") is not None:
            end = round(req["end"] * SECOND_PS)
        if end is None or end <= start:
            raise AllocationError("bad-window", "the time window ends before it starts")
        alloc = Allocation(
            id=aid,
            ident=next(self._ident),
            path=list(path),
            memories=req.get("memories", 1),
            pairs=req.get("pairs", 0),
            target=req.get("target-fidelity", 0.0),
            start_ps=start,
            end_ps=end,
            purification=req.get("purification", True),
            max_swaps=req.get("max-swaps"),
            hold=req.get("hold", False),
            keep_samples=self.keep_samples,
        )
        reach.plan_allocation(self.model, alloc)  # refuses an unreachable target
        pick_memories(self.model, self.built, alloc, hop_banks, self.busy)
        self.allocations[aid] = alloc
        self.by_ident[alloc.ident] = alloc
        for node in (path[0], path[-1]):
            for k in alloc.indices[node]:
                self.apps[node].owner_of[k] = alloc
        self.at(start, lambda: self._activate(alloc))
        self.at(end, lambda: self.finish(alloc, "expired"))
        return msgs.ok_reply(
            req,
            allocation=aid,
            start=start * PS,
            end=end * PS,
            memories={
                n: [self.rec.handle(n, self._mem(n, k).name) for k in ks]
                for n, ks in alloc.indices.items()
            },
        )

    def _req_release(self, req: dict[str, Any]) -> dict[str, Any]:
        alloc = self._get(req["allocation"])
        self.finish(alloc, "released")
        return msgs.ok_reply(req, **alloc.summary())

    def _req_consume(self, req: dict[str, Any]) -> dict[str, Any]:
        alloc = self._get(req["allocation"])
        pair = req.get("pair")
        if pair is None and alloc.held:
            pair = next(iter(alloc.held))
        if pair not in alloc.held:
            raise AllocationError("no-pair", f"no held pair {pair} in {alloc.id}")
        result = self.use_pair(alloc, pair, "pair-used")
        return msgs.ok_reply(req, **result)

    def _req_fault(self, req: dict[str, Any]) -> dict[str, Any]:
        fault = req["fault"]
        faults.check_fault(self.model, req)
        when = self._when(req)
        self.at(when, lambda: faults.apply_fault(self, req))
        return msgs.ok_reply(req, fault=fault, at=when * PS)

    def _req_query(self, req: dict[str, Any]) -> dict[str, Any]:
        what = req.get("what", "status")
        if what == "allocation":
            return msgs.ok_reply(req, **self._get(req["allocation"]).summary())
        if what == "telemetry":
            return msgs.ok_reply(req, telemetry=self.telemetry(reset=False))
        return msgs.ok_reply(req, **telemetry.status(self))

    def _get(self, aid: str) -> Allocation:
        if aid not in self.allocations:
            raise AllocationError("unknown-allocation", f"no allocation {aid}")
        return self.allocations[aid]

    def _mem(self, node: str, index: int) -> Any:
        return self.built.routers[node].get_components_by_type("MemoryArray")[0][index]

    # -- allocation lifecycle ---------------------------------------------------------
    def _activate(self, alloc: Allocation) -> None:
        if alloc.state != "scheduled":
            return
        if any(n in self.down_nodes for n in alloc.path):
            alloc.state = "interrupted"
        else:
            alloc.state = "active"
            install_rules(self.built, alloc, self.tl.now())
            reach.arm(self, alloc)  # fails it if it delivers nothing at target for long
        self.rec.emit(f"alloc.{alloc.id}", "allocation-state", **alloc.summary())

    def finish(self, alloc: Allocation, state: str) -> None:
        """End an allocation: completed (held pairs stay), expired or released (all go)."""
        final = alloc.state in FINAL
        if final and (state == "completed" or not alloc.held):
            return
        if state != "completed":
            kind = "pair-expired" if state == "expired" else "pair-released"
            for pair in list(alloc.held):
                self.use_pair(alloc, pair, kind)
        if not final:
            for node in (alloc.path[0], alloc.path[-1]):
                for k in alloc.indices[node]:
                    self.apps[node].owner_of.pop(k, None)
            alloc.halves.clear()
            remove_rules(self.built, alloc, self._held_indices(alloc))
        alloc.state = state
        self._release_busy(alloc)
        self.rec.emit(f"alloc.{alloc.id}", "allocation-state", **alloc.summary())

    def _held_indices(self, alloc: Allocation) -> set[tuple[str, int]]:
        held: set[tuple[str, int]] = set()
        for mem_a, mem_b in alloc.held.values():
            for mem in (mem_a, mem_b):
                handle = self.rec.handles[mem.name]
                held.add((handle["node"], self.rec.index_of[mem.name]))
        return held

    def _release_busy(self, alloc: Allocation) -> None:
        """Give back the qubits of a finished allocation, except those still held."""
        if alloc.state not in FINAL:
            return
        held = self._held_indices(alloc)
        for node, ks in alloc.indices.items():
            self.busy[node].difference_update(k for k in ks if (node, k) not in held)

    def _alloc_of_proto(self, proto: Any) -> Allocation | None:
        rule = getattr(proto, "rule", None)
        res = rule.reservation if rule is not None else None
        return self.by_ident.get(res.identity) if res is not None else None

    def use_pair(self, alloc: Allocation, pair: int, kind: str) -> dict[str, Any]:
        mem_a, mem_b = alloc.held.pop(pair)
        fidelity, age = self.rec.peek(mem_a)
        body = {
            "allocation": alloc.id,
            "pair": pair,
            "fidelity": fidelity,
            "age": age,
            "sequence-fidelity": mem_a.fidelity,
            "memories": [
                self.rec.handle(alloc.path[0], mem_a.name),
                self.rec.handle(alloc.path[-1], mem_b.name),
            ],
        }
        if kind == "pair-expired":
            alloc.expired += 1
        self.rec.emit(f"alloc.{alloc.id}", kind, **body)
        self.free(alloc.path[0], mem_a)
        self.free(alloc.path[-1], mem_b)
        self._release_busy(alloc)
        return body

    def free(self, node: str, memory: Any) -> None:
        """Give ``memory`` of ``node`` back to its resource manager (RAW) if in use."""
        rm = self.built.routers[node].resource_manager
        if rm.memory_manager.get_info_by_memory(memory).state != "RAW":
            rm.update(None, memory, "RAW")

    def _wrap_expire(self, memory: Any) -> Callable[[], None]:
        original = memory.expire

        def expire() -> None:
            if memory.entangled_memory.get("node_id") is not None and not memory.is_in_application:
                self._on_expire(memory)
            original()

        return expire

    def _on_expire(self, memory: Any) -> None:
        node = memory.owner.name if memory.owner is not None else "?"
        for alloc in self.allocations.values():
            for pair, (a, b) in list(alloc.held.items()):
                if memory in (a, b):
                    self.use_pair(alloc, pair, "pair-expired")
                    return
        fidelity, age = self.rec.peek(memory)
        self.rec.emit(
            f"node.{node}",
            "memory-expired",
            node=node,
            fidelity=fidelity,
            age=age,
            memory=self.rec.handle(node, memory.name),
        )

    def telemetry(self, reset: bool = True) -> dict[str, Any]:
        """Aggregates per link, memory bank and node (names follow the YANG leaves)."""
        return telemetry.snapshot(self, reset)

    def _telemetry(self) -> None:
        data = self.telemetry()
        for name, body in data["links"].items():
            self.rec.emit(f"telemetry.link.{name}", "link-telemetry", link=name, **body)
        for name, body in data["nodes"].items():
            self.rec.emit(f"telemetry.node.{name}", "node-telemetry", node=name, **body)
        period = self.telemetry_period
        assert period  # _telemetry is only scheduled when there is a period
        self.at(self.tl.now() + int(period * SECOND_PS), self._telemetry)

    def _emit(self, topic: str, msg: dict[str, Any]) -> None:
        self.sink(topic, msg)
