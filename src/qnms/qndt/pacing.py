"""Pacing of simulated time against the wall clock.

The draft (section 6.2) separates "simulation time" (what it costs to compute) from
"simulated time" (what the real network would take). The QNDT maps simulated time to
wall time with a speed factor ``s`` (simulated seconds per wall second): simulated
instant ``t`` maps to wall instant ``w0 + (t - t0) / s``. The engine is only ever run up
to the simulated time that maps to *now*, so no result leaves before its wall time.
When the simulator cannot keep up, the gap between that target and the reached
simulated time is the lag, reported in simulated and wall seconds.

Between two runs the pacing loop sleeps until the wall instant of the engine's next
pending item (``wait``), at most a tick (to serve requests): sleeping a whole tick
instead released every item due during the sleep up to a tick late, although the
engine was idle.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Pacer:
    """Maps wall time to target simulated time; ``speed=None`` means unpaced."""

    speed: float | None
    sim_origin: float = 0.0
    wall_origin: float = 0.0
    clock: Callable[[], float] = time.monotonic

    def start(self, sim_now: float) -> None:
        """Anchor the mapping at the current instant."""
        self.sim_origin = sim_now
        self.wall_origin = self.clock()

    def target(self) -> float:
        """Simulated time that maps to the current wall time (inf when unpaced)."""
        if not self.speed:
            return float("inf")
        return self.sim_origin + self.speed * (self.clock() - self.wall_origin)

    def wall_of(self, sim_t: float) -> float:
        """Wall instant (clock units) at which simulated time ``sim_t`` may be released."""
        if not self.speed:
            return self.wall_origin
        return self.wall_origin + (sim_t - self.sim_origin) / self.speed

    def lag(self, sim_now: float) -> tuple[float, float]:
        """(simulated, wall) seconds by which the engine is behind the pace."""
        if not self.speed:
            return 0.0, 0.0
        behind = max(0.0, self.target() - sim_now)
        return behind, behind / self.speed

    def wait(self, next_sim_t: float, tick: float) -> float:
        """Wall seconds to sleep before simulated ``next_sim_t`` is due, at most ``tick``."""
        if not self.speed:
            return 0.0
        return min(tick, max(0.0, self.wall_of(next_sim_t) - self.clock()))
