"""When periodic YANG-Push updates are due (RFC 8641 3.1), and that producing them lets
requests through: an explicit anchor-time is honoured exactly, a subscription without
one runs on its server's grid from its establishment (servers established at different
times do not share a tick), and the loop's ticker runs due work in slices."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from support.push import datastore_sub, establish, take
from support.servers import ServerThread, connect

from qnms.netconf.push.ticker import Ticker

PERIOD_CS = 50  # 0.5 s
PERIOD = PERIOD_CS / 100
SKEW = 0.02  # s


def _periodic(anchor: float | None = None) -> str:
    at = ""
    if anchor is not None:
        stamp = datetime.fromtimestamp(anchor, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        at = f"<yp:anchor-time>{stamp}</yp:anchor-time>"
    return f"<yp:periodic><yp:period>{PERIOD_CS}</yp:period>{at}</yp:periodic>"


def _due(st: ServerThread) -> list[float]:
    return st.call(st.server.yang_push.due)


def _offsets(due: list[float], anchor: float) -> list[float]:
    """How far each due instant is from the grid anchor + k * period (0 when on it)."""
    out = []
    for wall in due:
        off = (wall - anchor) % PERIOD
        out.append(min(off, PERIOD - off))
    return out


def test_anchor_time_is_honoured_exactly(push_server: ServerThread) -> None:
    anchor = int(time.time()) - 3600 + 0.1234  # any instant, past or future
    with connect(push_server.port) as m:
        before = time.time()
        establish(m, datastore_sub(trigger=_periodic(anchor)))
        due = _due(push_server)
        assert due and all(off < 1e-4 for off in _offsets(due, anchor))  # 4-digit slot keys
        assert all(wall > before - SKEW for wall in due)  # the next point of the grid
        note = take(m, timeout=3.0)
        assert note is not None and note.kind == "push-update"
        sent = datetime.fromisoformat(note.event_time.replace("Z", "+00:00")).timestamp()
        assert sent >= min(due) - SKEW  # not before its instant on the grid


def test_without_anchor_the_grid_starts_at_establishment(
    push_factory: Callable[..., ServerThread],
) -> None:
    a, b = push_factory(), push_factory()
    with connect(a.port) as ma, connect(b.port) as mb:
        t0 = time.time()
        establish(ma, datastore_sub(trigger=_periodic()))
        t1 = time.time()
        phase_a = a.call(a.server.yang_push.phase)
        # the establishment, not a wall-clock tick (SKEW: the clocks of two threads
        # on a virtual machine's CPUs were seen a millisecond apart)
        assert t0 - SKEW <= phase_a <= t1 + SKEW
        assert take(ma, timeout=2.0) is not None  # the first update at once
        time.sleep(0.2)
        establish(mb, datastore_sub(trigger=_periodic()))
        phase_b = b.call(b.server.yang_push.phase)
        assert phase_b - phase_a >= 0.2 - SKEW  # the other server keeps its own phase
        assert all(off < 1e-4 for off in _offsets(_due(a), phase_a))
        assert all(off < 1e-4 for off in _offsets(_due(b), phase_b))
        assert min(_offsets(_due(b), phase_a)) > 0.05  # not on a's ticks
        # a second subscription of one server joins its grid (one snapshot per instant)
        time.sleep(0.15)
        establish(ma, datastore_sub(trigger=_periodic()))
        assert a.call(a.server.yang_push.phase) == phase_a
        assert all(off < 1e-4 for off in _offsets(_due(a), phase_a))


def test_ticker_lets_the_loop_run_between_slices() -> None:
    """Work due at one instant runs in order, a slice at a time, and other callbacks of
    the loop (a request being answered) run between the slices."""

    async def main() -> tuple[list[int], list[int], int]:
        loop = asyncio.get_running_loop()
        ticker = Ticker(loop, slice_s=0.004)
        ran: list[int] = []
        seen: list[int] = []  # how many items had run each time the other task ran
        now = time.time()
        for i in range(20):
            ticker.at(now, lambda i=i: (time.sleep(0.002), ran.append(i)))

        async def other() -> None:
            while len(ran) < 20:
                seen.append(len(ran))
                await asyncio.sleep(0)

        await asyncio.wait_for(asyncio.gather(other()), 10)
        return ran, seen, ticker.slices

    ran, seen, slices = asyncio.run(main())
    assert ran == list(range(20))
    assert slices >= 5  # at most 2-3 items of 2 ms fit a 4 ms slice
    assert any(0 < n < 20 for n in seen)  # the loop ran other work in between


def test_ticker_runs_later_work_later_and_survives_a_failure() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        ticker = Ticker(loop)
        out: list[str] = []
        now = time.time()

        def boom() -> None:
            raise RuntimeError("a state provider failed")

        ticker.at(now + 0.15, lambda: out.append("late"))
        ticker.at(now + 0.05, boom)
        ticker.at(now + 0.05, lambda: out.append("early"))
        await asyncio.sleep(0.1)
        assert out == ["early"] and len(ticker) == 1
        await asyncio.sleep(0.2)
        return out

    assert asyncio.run(main()) == ["early", "late"]
