"""Command line of the QNDT: ``qnms qndt [run] ...`` (also ``python -m qnms.qndt``).

``qnms qndt --network FILE [--speed X] [--seed N] [--bind ADDR]`` serves the engine on
the bus; ``qnms qndt run --network FILE --duration S --request SRC,DST,PAIRS,FIDELITY``
runs a batch emulation and prints what was delivered.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from qnms.network.inventory import DEFAULT_NETWORK

from .messages import MODELS

MODEL_HELP = "generation model: link (sampled heralding, default) or full (every photon)"


def _configure(p: argparse.ArgumentParser) -> None:
    """Service options on ``p`` and the ``run`` (batch) sub-command under it."""
    p.add_argument("--network", default=str(DEFAULT_NETWORK), help="network JSON (RFC 7951)")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per wall second; 0 = as fast as possible",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", choices=MODELS, default="link", help=MODEL_HELP)
    p.add_argument(
        "--bind",
        default="tcp://127.0.0.1:5555",
        help="results on ADDR, requests on port+1 (tcp) or ADDR.req (ipc)",
    )
    p.add_argument("--telemetry-period", type=float, default=0.1, help="simulated seconds")
    p.add_argument("--wall-duration", type=float, default=None, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="qndt_command")
    r = sub.add_parser("run", help="batch emulation without bus or pacing")
    r.add_argument("--network", default=str(DEFAULT_NETWORK), help="network JSON (RFC 7951)")
    r.add_argument("--duration", type=float, required=True, help="simulated seconds")
    r.add_argument("--request", action="append", required=True, metavar="SRC,DST,PAIRS,FIDELITY")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--model", choices=MODELS, default="link", help=MODEL_HELP)
    r.add_argument("--memories", type=int, default=2, help="qubits per hop")
    r.add_argument("--no-purification", action="store_true")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=dispatch)


def dispatch(ns: argparse.Namespace) -> int:
    """Run what the parsed arguments ask for (batch run or service)."""
    return _run(ns) if ns.qndt_command == "run" else _serve(ns)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    p = argparse.ArgumentParser(prog="qnms qndt", description="Quantum network digital twin.")
    _configure(p)
    return dispatch(p.parse_args(sys.argv[1:] if argv is None else argv))


def _run(ns: argparse.Namespace) -> int:
    from .batch import BatchRequest, format_report, run_batch

    try:
        requests = [BatchRequest.parse(r) for r in ns.request]
        report = run_batch(
            ns.network,
            ns.duration,
            requests,
            seed=ns.seed,
            memories=ns.memories,
            purification=not ns.no_purification,
            model=ns.model,
        )
    except (ValueError, OSError) as err:
        print(f"qnms qndt run: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if ns.json else format_report(report))
    return 0


def _serve(ns: argparse.Namespace) -> int:
    from .bus import Service
    from .engine import Engine

    try:
        engine = Engine(
            ns.network,
            seed=ns.seed,
            telemetry_period=ns.telemetry_period or None,
            tier=ns.model,
            keep_samples=False,  # a service runs for days: aggregates only
        )
        service = Service(engine, bind=ns.bind, speed=ns.speed or None)
    except (ValueError, OSError) as err:
        print(f"qnms qndt: {err}", file=sys.stderr)
        return 2
    print(
        f"qndt: results on {service.pub_addr}, requests on {service.req_addr}, "
        f"speed {ns.speed or 'unpaced'}, model {ns.model}",
        file=sys.stderr,
        flush=True,
    )
    try:
        service.serve(wall_duration=ns.wall_duration)
    except KeyboardInterrupt:
        pass
    finally:
        service.close()
    return 0


def add_arguments(subparsers: Any) -> None:
    """Register ``qndt`` on the top-level ``qnms`` parser; call ``ns.func(ns)`` after parsing."""
    _configure(subparsers.add_parser("qndt", help="quantum network digital twin engine"))
