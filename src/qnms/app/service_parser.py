"""Arguments of `qnms up`, `request`, `status` and `watch` (handlers in
``qnms.app.service_commands``).

Kept apart from the handlers because every `qnms` command builds the whole parser: an
agent starting with `qnms agent` should not import ncclient and the northbound client
(about a tenth of its start) only to register commands it does not run.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path

from qnms.network.inventory import DEFAULT_NETWORK


def _handler(name: str) -> Callable[[argparse.Namespace], int]:
    """``service_commands.<name>``, imported when the command runs."""

    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module("qnms.app.service_commands"), name)(args)

    return run


def add_arguments(sub: argparse._SubParsersAction) -> None:
    """Register the four commands on the top-level ``qnms`` parser."""
    up = sub.add_parser("up", help="run twin, agents and orchestrator of a network (foreground)")
    up.add_argument("--network", type=Path, default=DEFAULT_NETWORK, help="network file")
    up.add_argument("--port", type=int, default=8830, help="northbound port (0: any)")
    up.add_argument("--user", default="admin", help="northbound operator (admin)")
    up.add_argument("--password", default="admin", help="its password (admin)")
    up.add_argument("--speed", type=float, default=0.1, help="twin: simulated s per wall s")
    up.add_argument("--seed", type=int, default=0, help="twin random seed")
    up.add_argument("--kme-pki", type=Path, help="KMEs on the SS agents with this PKI (qnms pki)")
    up.add_argument("--state-dir", type=Path, help="default ~/.local/state/qnms/up/NETWORK")
    up.add_argument("--multi-domain", action="store_true",
                    help="one orchestrator per domain under a parent (MDSC) that serves "
                    "the northbound")  # fmt: skip
    up.add_argument("--users", type=Path, metavar="FILE",
                    help="more northbound users, 'name:password' lines: a user named as an "
                    "application or its owner acts for it (tenancy)")  # fmt: skip
    up.add_argument("--console-port", type=int, default=8831,
                    help="web console port (8831; 0: any free port)")  # fmt: skip
    up.add_argument("--no-console", action="store_true", help="do not serve the web console")
    up.set_defaults(func=_handler("cmd_up"))

    req = sub.add_parser("request", help="create a service unit and wait for its outcome")
    req.add_argument("name", help="service unit name")
    req.add_argument("--from", dest="originator", required=True, metavar="URN",
                     help="originator endpoint URN (one of the endpoints)")  # fmt: skip
    req.add_argument("--to", required=True, action="append", metavar="URN",
                     help="other endpoint URN; repeat for multipartite units")  # fmt: skip
    req.add_argument("--size", type=int, default=10, help="units to deliver (10)")
    req.add_argument("--fidelity", type=float, help="target fidelity")
    req.add_argument("--type", default="bipartite-entanglement", help="qnms-types service type")
    req.add_argument("--valid-for", type=int, default=3600, help="seconds from now (3600)")
    req.add_argument("--depth-cap", type=int, help="swapping depth cap")
    req.add_argument("--no-purification", action="store_true", help="purification not allowed")
    req.add_argument("--timeout", type=float, default=120, help="wait at most (s); 0: no wait")
    _client_options(req)
    req.set_defaults(func=_handler("cmd_request"))

    status = sub.add_parser("status", help="table of the service units")
    status.add_argument("name", nargs="?", help="one unit only")
    status.add_argument("--json", action="store_true", help="JSON instead of the table")
    _client_options(status)
    status.set_defaults(func=_handler("cmd_status"))

    watch = sub.add_parser("watch", help="follow service units live (YANG-Push, events)")
    watch.add_argument("--count", type=int, help="stop after this many notifications")
    watch.add_argument("--timeout", type=float, help="stop after this many seconds")
    _client_options(watch)
    watch.set_defaults(func=_handler("cmd_watch"))


def _client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="orchestrator address (127.0.0.1)")
    p.add_argument("--port", type=int, default=8830, help="northbound port (8830)")
    p.add_argument("--user", default="admin", help="NETCONF user (admin)")
    p.add_argument("--password", default="admin", help="its password (admin)")
