"""Physics sanity: no direct link beats the repeaterless (PLOB) bound."""

from __future__ import annotations

import math
from typing import Any

import pytest

from qnms.qndt.topologies import chain


@pytest.mark.slow
@pytest.mark.parametrize("km", [5.0, 25.0, 50.0])
def test_direct_link_stays_below_plob(make_engine: Any, km: float) -> None:
    engine = make_engine(chain(2, km=km, size=4), seed=21, telemetry_period=None)
    assert engine.handle(
        {
            "type": "allocate",
            "allocation": "a",
            "path": ["alice", "bob"],
            "memories": 4,
            "duration": 1.0,
        }
    )["ok"]
    engine.run_until(0.2)
    link = engine.telemetry(reset=False)["links"]["f-alice-bob"]
    eta = 10 ** (-0.2 * km / 10)
    plob = -math.log2(1 - eta)
    assert link["attempts"] > 50
    # at most one ebit per heralded pair (less: fidelity < 1), per channel use
    per_use = link["successes"] / link["attempts"]
    assert 0 < per_use <= plob, (km, per_use, plob)
