"""What faults, telemetry and endpoints may see of the engine, as a structural type.

``faults``, ``telemetry`` and ``endpoints`` are parts of the engine kept in their own
modules; typing them against this protocol instead of ``Engine`` keeps the imports one
way (the engine uses them, they never import it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sequence.kernel.timeline import Timeline

    from qnms.network.model import NetworkModel

    from .allocation import Allocation
    from .build import Built
    from .recorder import Recorder


class EngineView(Protocol):
    """The engine state that fault injection, telemetry aggregation and the end-node
    applications read and change."""

    model: NetworkModel
    built: Built
    rec: Recorder
    tl: Timeline
    seed: int
    tier: str
    telemetry_period: float | None
    allocations: dict[str, Allocation]
    busy: dict[str, set[int]]
    down_nodes: set[str]
    cut_channels: set[str]

    @property
    def now(self) -> float:
        """Simulated time in seconds."""
        ...

    def use_pair(self, alloc: Allocation, pair: int, kind: str) -> dict[str, Any]:
        """Take a held pair out of its memories and report it as ``kind``."""
        ...

    def at(self, t_ps: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` at simulated time ``t_ps`` (the engine's agenda)."""
        ...

    def finish(self, alloc: Allocation, state: str) -> None:
        """End an allocation: completed (held pairs stay), expired or released."""
        ...

    def free(self, node: str, memory: Any) -> None:
        """Give a memory back to its node's resource manager."""
        ...
