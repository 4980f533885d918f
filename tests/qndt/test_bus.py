"""The engine as a bus service (``python -m qnms.qndt``): requests, results, pacing, lag.

Each service is a separate process bound on ipc in a temporary directory; every test
stops what it starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.polling import poll, wait_until

from qnms.qndt.client import BusClient
from qnms.qndt.pacing import Pacer
from qnms.qndt.topologies import chain

TICK = 0.02


def start_service(tmp: Path, speed: float, network: dict[str, Any]) -> tuple[Any, str]:
    net = tmp / "net.json"
    net.write_text(json.dumps(network))
    bind = f"ipc://{tmp}/qndt"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qnms.qndt",
            "--network",
            str(net),
            "--speed",
            str(speed),
            "--bind",
            bind,
            "--seed",
            "3",
            "--wall-duration",
            "60",
            "--telemetry-period",
            "0.02",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert "results on" in proc.stderr.readline()  # bound and serving
    return proc, bind


@pytest.fixture
def service(tmp_path: Path, request: Any) -> Iterator[tuple[BusClient, Any]]:
    speed, network = request.param
    proc, bind = start_service(tmp_path, speed, network)
    client = BusClient(bind)
    try:
        # the subscription has reached the publisher once a (telemetry) result is queued;
        # only peek (poll the socket): at speed 1000 telemetry comes faster than a drain
        assert wait_until(lambda: client.sub.poll(100), timeout=15), "no result published"
        yield client, proc
    finally:
        with contextlib.suppress(TimeoutError):
            client.request({"type": "stop"})
        client.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_pacer_maps_wall_to_simulated_time() -> None:
    now = [100.0]
    pacer = Pacer(0.01, clock=lambda: now[0])
    pacer.start(2.0)
    now[0] += 3.0
    assert pacer.target() == pytest.approx(2.03)
    assert pacer.wall_of(2.03) == pytest.approx(103.0)
    assert pacer.lag(2.01) == (pytest.approx(0.02), pytest.approx(2.0))
    assert Pacer(None).target() == float("inf")


@pytest.mark.slow
@pytest.mark.parametrize("service", [(0.05, chain(3))], indirect=True)
def test_requests_results_pacing_and_errors(service: tuple[BusClient, Any]) -> None:
    client, _ = service
    speed = 0.05
    # malformed and unknown requests: error replies, nothing changes
    assert client.request(b"{not json")["error"]["code"] == "malformed"
    assert client.request({"type": "dance"})["error"]["code"] == "unknown-type"
    # pacing: simulated time advanced over a wall interval is speed x interval; the
    # interval ends once the engine has advanced 0.5 s of wall time's worth (polled)
    w0 = time.monotonic()
    s0 = client.request({"type": "query"})
    s1 = poll(
        lambda: client.request({"type": "query"}),
        lambda s: s["now"] - s0["now"] >= speed * 0.5,
        timeout=10,
    )
    w1 = time.monotonic()
    advanced = s1["now"] - s0["now"]
    tolerance = speed * (2 * TICK + 0.02)  # stated: two ticks plus 20 ms of request jitter
    assert abs(advanced - speed * (w1 - w0)) <= tolerance, (advanced, w1 - w0)
    assert s1["pacing"]["lag-wall"] < 0.1
    # an allocation on the explicit path; results arrive on its topic
    reply = client.request(
        {
            "type": "allocate",
            "allocation": "a1",
            "path": ["alice", "r1", "bob"],
            "memories": 2,
            "pairs": 2,
            "duration": 1.0,
        }
    )
    assert reply["ok"], reply
    origin, sim_origin = s1["pacing"]["wall-origin"], s1["pacing"]["sim-origin"]
    got: list[tuple[str, dict[str, Any], float]] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for topic, msg in client.results(wait=0.5):
            got.append((topic, msg, time.monotonic()))
        if sum(m["type"] == "pair-delivered" for _, m, _ in got) >= 2:
            break
    delivered = [(t, m, w) for t, m, w in got if m["type"] == "pair-delivered"]
    assert len(delivered) == 2
    assert all(t == "alloc.a1" for t, _, _ in delivered)
    # no result is released before the wall time its simulated time maps to
    for _, msg, wall in got:
        assert wall >= origin + (msg["sim-time"] - sim_origin) / speed - 0.005
    topics = {t.split(".")[0] for t, _, _ in got}
    assert {"alloc", "link", "node", "telemetry"} <= topics


@pytest.mark.slow
@pytest.mark.parametrize("service", [(1000.0, chain(4))], indirect=True)
def test_lag_is_reported_when_the_pace_cannot_be_kept(service: tuple[BusClient, Any]) -> None:
    client, _ = service
    reply = client.request(
        {
            "type": "allocate",
            "allocation": "busy",
            "path": ["alice", "r1", "r2", "bob"],
            "memories": 2,
            "duration": 1000.0,
        }
    )
    assert reply["ok"], reply
    lags: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while not lags and time.monotonic() < deadline:
        lags = [m for t, m in client.results(wait=0.5) if m["type"] == "lag"]
    assert lags and lags[0]["lag-wall"] > 0.1 and lags[0]["lag"] > 0
    status = client.request({"type": "query"})
    assert status["pacing"]["lag"] > 0


def test_pacer_waits_until_the_next_item_is_due_within_resolution_and_tick() -> None:
    now = [100.0]
    pacer = Pacer(0.5, clock=lambda: now[0])
    pacer.start(2.0)  # simulated 2.0 s at wall 100.0; 0.5 simulated s per wall s
    assert pacer.wait(2.004, 0.02) == pytest.approx(0.008)  # due at wall 100.008
    assert pacer.wait(2.001, 0.02) == 0.005  # due in 2 ms: the resolution, 5 ms
    assert pacer.wait(2.001, 0.02, resolution=0.001) == pytest.approx(0.002)
    assert pacer.wait(3.0, 0.02) == 0.02  # far: one tick, to serve requests
    assert pacer.wait(1.0, 0.02) == 0.0  # overdue
    assert pacer.wait(2.0, 0.02) == 0.0  # due now
    assert pacer.wait(float("inf"), 0.02) == 0.02
    assert Pacer(None).wait(3.0, 0.02) == 0.0


def test_next_time_is_the_next_event_or_agenda_item(make_engine: Any) -> None:
    engine = make_engine(None, seed=1, telemetry_period=0.25)
    assert engine.next_time() == pytest.approx(0.25)  # only the telemetry is pending
    engine.run_until(0.25)  # items at 0.25 itself run in the next step
    assert engine.now == pytest.approx(0.25) and engine.next_time() == pytest.approx(0.25)
    engine.run_until(0.26)
    assert engine.next_time() == pytest.approx(0.5)
    request = {
        "type": "allocate",
        "allocation": "a",
        "path": ["madqci-alice", "madqci-r1", "madqci-bob"],
        "memories": 1,
    }
    assert engine.handle({**request, "start": 0.3, "duration": 1.0})["ok"]
    assert engine.next_time() == pytest.approx(0.3)  # the allocation's start
    engine.run_until(0.3001)  # active: SeQUeNCe's events before the next telemetry
    assert engine.now <= engine.next_time() == engine.tl.events.top().time * 1e-12 < 0.5
