"""The demo's fault step: cut a fibre under an active unit and watch it come back.

1. the channel between the first two nodes of the unit's path is cut in the twin (a
   ``channel-cut`` fault on the QNDT bus, as an experimenter would inject it);
2. the CS agent of that domain sees the fault and pushes the channel's new oper-state
   to the orchestrator (a YANG-Push ``push-change-update``); the demo shows when it
   arrived, from the orchestrator's closed-loop log;
3. the orchestrator re-routes the unit (same identifier, a path avoiding the cut);
   the demo, a plain NETCONF client of the northbound, prints every
   ``service-unit-state-change`` notification it receives until the unit is active;
4. the restoration time, wall and simulated, and the channel is restored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from lxml import etree

from qnms.app.background import BackgroundLoop
from qnms.app.northbound import Login, connect, read_units, subscribe_events
from qnms.app.stack import Stack
from qnms.qndt.client import BusClient

SVC = "urn:qnms:yang:qnms-service"
RESTORE_TIMEOUT = 120.0  # wall seconds


@dataclass
class FaultResult:
    unit: str
    channel: str
    old_path: list[str]
    new_path: list[str]
    state: str
    wall_s: float  # fault requested -> active seen by the northbound client
    sim_s: float  # simulated time from the fault to the unit active again
    detection_ms: float | None  # fault requested -> push at the orchestrator


def _say(text: str, quiet: bool) -> None:
    if not quiet:
        print(text, flush=True)


def fault_step(stack: Stack, login: Login, bg: BackgroundLoop, unit: str, *, quiet: bool) -> bool:
    """Run the step on ``unit``; True when it was active again in time."""
    result = cut_and_restore(stack, login, bg, unit, quiet=quiet)
    if result is None:
        return False
    _say("", quiet)
    for line in result_lines(result):
        _say(line, quiet)
    return result.state == "active"


def cut_and_restore(
    stack: Stack, login: Login, bg: BackgroundLoop, unit: str, *, quiet: bool
) -> FaultResult | None:
    orch = stack.orchestrator
    assert orch is not None
    _say("", quiet)
    _say(f"Fault: cutting a fibre under {unit} in the twin:", quiet)
    with connect(login) as m:
        found = read_units(m, unit)
        if not found or found[0].state != "active" or len(found[0].path) < 2:
            _say(f"  {unit} is not active on a path: no fault injected", quiet)
            return None
        old_path = found[0].path
        edge = bg.call(lambda: orch.controller.topology.edge(old_path[0], old_path[1]))
        channel = edge.channel or edge.link
        subscribe_events(m)
        twin = BusClient(stack.twin_bind, topics=())
        try:
            t0 = time.time()
            reply = twin.request({"type": "fault", "fault": "channel-cut", "channel": channel})
            sim0 = float(reply.get("at", 0.0))
            _say(f"  channel-cut {channel} ({old_path[0]} - {old_path[1]}) at sim {sim0:.3f} s",
                 quiet)  # fmt: skip
            state = _follow(m, unit, t0, quiet)
            wall = time.time() - t0
            sim1 = float(twin.request({"type": "query"}).get("now", sim0))
            twin.request({"type": "fault", "fault": "channel-restored", "channel": channel})
        finally:
            twin.close()
        after = read_units(m, unit)
    events = bg.call(lambda: list(orch.restoration.events))
    pushed = [e for e in events if e.what == "element-down" and e.subject == f"channel:{channel}"]
    detection = (pushed[0].wall - t0) * 1000 if pushed else None
    if pushed:
        where = pushed[0].detail
        _say(f"  push-change-update from {where} at the orchestrator: channel {channel} "
             f"oper-state down, {detection:.0f} ms after the cut", quiet)  # fmt: skip
    return FaultResult(
        unit,
        channel,
        old_path,
        after[0].path if after else [],
        state,
        wall,
        sim1 - sim0,
        detection,
    )


def _follow(m, unit: str, t0: float, quiet: bool) -> str:
    """Print the unit's state-change notifications until it is active (or time out)."""
    deadline, state = t0 + RESTORE_TIMEOUT, ""
    while time.time() < deadline and state != "active":
        note = m.take_notification(timeout=0.5)
        if note is None:
            continue
        event = etree.fromstring(note.notification_xml.encode()).find(
            f".//{{{SVC}}}service-unit-state-change"
        )
        if event is None or event.findtext(f"{{{SVC}}}name") != unit:
            continue
        state = event.findtext(f"{{{SVC}}}state") or ""
        reason = event.findtext(f"{{{SVC}}}reason") or ""
        _say(f"  [+{time.time() - t0:5.2f} s] notification: {unit} {state}: {reason}", quiet)
    return state


def result_lines(r: FaultResult) -> list[str]:
    detect = f"{r.detection_ms:.0f} ms" if r.detection_ms is not None else "-"
    return [
        f"restoration of {r.unit} after cutting {r.channel}: {r.state}",
        f"  path         {' > '.join(r.old_path)}  ->  {' > '.join(r.new_path) or '-'}",
        f"  detection    {detect} wall from the cut to the push at the orchestrator",
        f"  restored in  {r.wall_s:.2f} s wall, {r.sim_s:.3f} s simulated "
        "(cut to active again, pairs delivered on the new path)",
    ]
