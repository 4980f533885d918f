"""Unpaced service mode: telemetry alone must not keep the engine from the bus."""

from __future__ import annotations

import math
import time

from qnms.qndt.engine import Engine
from qnms.qndt.topologies import chain


def test_run_until_honours_the_wall_deadline_with_only_telemetry_scheduled() -> None:
    engine = Engine(chain(3), seed=1, telemetry_period=0.01)
    try:
        start = time.monotonic()
        reached = engine.run_until(math.inf, wall_deadline=start + 0.05)
        assert reached is False
        assert time.monotonic() - start < 2.0
        assert engine.now > 0
    finally:
        engine.close()
