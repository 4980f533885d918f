"""`qnms demo`: provision service units end to end on the built-in network, as a user would.

1. the network file is validated against the YANG models and its inventory printed;
2. the whole system starts on loopback (``qnms.app.stack``): the twin (SeQUeNCe) in its
   own process, one NETCONF agent per managed element following it, the orchestrator
   discovering the agents over NETCONF;
3. an application's operator, with nothing but a NETCONF client (ncclient), creates two
   service units on the orchestrator's northbound with one edit-config each: an
   intra-domain one (madqci-alice to madqci-bob) and an inter-domain one (madqci-alice to
   quditto-dave), and follows their state until they are active (seed 5.4 steps 0-5);
4. a fault (demo_fault.py): a fibre under the intra-domain unit is cut in the twin, the
   orchestrator hears it over YANG-Push and re-routes the unit until it is active again;
5. a table per unit: identifier URNs, path, QUIs per domain, pairs delivered, achieved
   against target fidelity, and the wall time from the edit-config to active;
6. the ending (demo_keys.py): ccips and ipsec-controller share a key across the two
   domains through a qkd-key unit, over ETSI GS QKD 014 with mutual TLS.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from ncclient.operations import RPCError

from qnms.app.background import BackgroundLoop
from qnms.app.demo_fault import fault_step
from qnms.app.demo_keys import DEMO_LIMITS, demo_pki, key_json, key_lines, share_keys
from qnms.app.northbound import (
    Login,
    UnitRequest,
    UnitStatus,
    connect,
    error_text,
    request_unit,
    wait_for,
)
from qnms.app.stack import Stack, StackOptions
from qnms.network.inventory import Network
from qnms.network.report import inventory_lines

ESTABLISH_TIMEOUT = 120.0  # wall seconds per unit


def _say(text: str = "", *, quiet: bool = False) -> None:
    if not quiet:
        print(text, flush=True)


def demo_units(net: Network, *, valid_for: int = 3600) -> list[UnitRequest]:
    """The two units of the demo, between applications of the built-in network."""
    apps = {a["name"]: a["endpoint"] for a in net.applications}
    until = int(time.time()) + valid_for
    return [
        UnitRequest(
            name="su-intra",
            originator=apps["ccips"],
            endpoints=(apps["ccips"], apps["teleport-lab"]),
            size=10,
            valid_until=until,
            target_fidelity=0.8,
        ),
        UnitRequest(
            name="su-inter",
            originator=apps["ccips"],
            endpoints=(apps["ccips"], apps["clock-sync"]),
            size=4,
            valid_until=until,
            target_fidelity=0.7,
        ),
    ]


def run_demo(net: Network, *, as_json: bool = False, speed: float = 1.0) -> int:
    quiet = as_json
    _say("Network validated against the qnms YANG models.", quiet=quiet)
    _say(quiet=quiet)
    for line in inventory_lines(net):
        _say(line, quiet=quiet)
    _say(quiet=quiet)
    with tempfile.TemporaryDirectory(prefix="qnms-demo-") as tmp, BackgroundLoop() as bg:
        pki = demo_pki(net, Path(tmp) / "pki")
        options = StackOptions(
            network=net, state_dir=Path(tmp), speed=speed, kme_pki=pki, kme_limits=DEMO_LIMITS
        )
        stack = Stack(options)
        _say("Starting the system (everything on 127.0.0.1):", quiet=quiet)
        bg.run(stack.start(lambda msg: _say(f"  {msg}", quiet=quiet)), timeout=180)
        try:
            login = Login("127.0.0.1", stack.port, options.user, options.password)
            results = _provision(login, demo_units(net), quiet=quiet)
            restored = fault_step(stack, login, bg, "su-intra", quiet=quiet)
            keys = share_keys(login, stack, net, pki, bg, say=lambda t: _say(t, quiet=quiet))
        finally:
            bg.run(stack.stop(), timeout=60)
    if as_json:
        print(json.dumps([*(_as_json(r) for r in results), key_json(keys)], indent=2))
    else:
        _say()
        for status, wall in results:
            for line in _unit_lines(status, wall):
                _say(line)
            _say()
        for line in key_lines(keys):
            _say(line)
    return 0 if all(s.state == "active" for s, _ in results) and restored and keys.ok else 1


def _provision(
    login: Login, units: list[UnitRequest], *, quiet: bool
) -> list[tuple[UnitStatus, float]]:
    """Create each unit with one edit-config and follow it to a final state."""
    _say(quiet=quiet)
    _say(f"Provisioning over NETCONF on the northbound ({login.host}:{login.port}):", quiet=quiet)
    out: list[tuple[UnitStatus, float]] = []
    with connect(login) as m:
        for unit in units:
            ends = " <-> ".join(unit.endpoints)
            _say(f"  {unit.name}: edit-config service-unit {ends}", quiet=quiet)
            t0 = time.monotonic()
            try:
                request_unit(m, unit)
            except RPCError as err:
                _say(f"  {unit.name}: refused: {error_text(err)}", quiet=quiet)
                out.append((UnitStatus(unit.name, "refused", error_text(err)), 0.0))
                continue

            def progress(st: UnitStatus, t0: float = t0) -> None:
                why = f" ({st.failure_reason})" if st.failure_reason else ""
                extra = f", {st.delivered} delivered" if st.delivered else ""
                _say(
                    f"  {st.name}: {st.state}{why}{extra}  [{time.monotonic() - t0:.2f} s]",
                    quiet=quiet,
                )

            seen = wait_for(m, [unit.name], timeout=ESTABLISH_TIMEOUT, on_change=progress)
            status = seen.get(unit.name, UnitStatus(unit.name, "unknown"))
            out.append((status, time.monotonic() - t0))
    return out


def _unit_lines(st: UnitStatus, wall: float) -> list[str]:
    tgt = f"{st.target_fidelity:.3f}" if st.target_fidelity is not None else "-"
    got = f"{st.achieved_fidelity:.3f}" if st.achieved_fidelity is not None else "-"
    est = f"{st.estimated_fidelity:.3f}" if st.estimated_fidelity is not None else "-"
    measured = (
        f", orchestrator: {st.establishment_latency_ms:.0f} ms"
        if st.establishment_latency_ms is not None
        else ""
    )
    lines = [f"service unit {st.name}: {st.state}"]
    if st.failure_reason:
        lines.append(f"  reason       {st.failure_reason}")
    lines += [f"  identifier   {urn}" for urn in st.identifier]
    lines += [
        f"  path         {' > '.join(st.path) or '-'}",
        "  QUIs         " + (", ".join(f"{qid} ({dom})" for dom, qid in st.quis) or "-"),
        f"  delivered    {st.delivered} pairs",
        f"  fidelity     achieved {got}, target {tgt}, estimated {est}",
        f"  established  {wall:.2f} s wall from the edit-config to active{measured}",
    ]
    return lines


def _as_json(result: tuple[UnitStatus, float]) -> dict[str, object]:
    status, wall = result
    return {**asdict(status), "wall-seconds": round(wall, 3)}
