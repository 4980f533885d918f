"""The `qnms` command: one entry point, one sub-command per job.

Sub-commands import what they need lazily, so `qnms validate` does not pay for
SeQUeNCe or the NETCONF stack.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_demo(args: argparse.Namespace) -> int:
    from qnms.network.inventory import NetworkError, load_network
    from qnms.network.report import inventory_lines

    try:
        net = load_network(args.network)
    except NetworkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("Network validated against the qnms YANG models.")
    print()
    for line in inventory_lines(net):
        print(line)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from qnms.network.inventory import NetworkError, load_network

    try:
        net = load_network(args.file)
    except NetworkError as err:
        print(f"{err.source}: invalid, {len(err.problems)} problem(s)", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{net.source}: valid network {net.name!r} ({len(net.nodes)} nodes)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from qnms.network.inventory import DEFAULT_NETWORK

    parser = argparse.ArgumentParser(
        prog="qnms", description="Model-driven management of quantum networks."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the demo on the built-in default network")
    demo.add_argument("--network", type=Path, default=DEFAULT_NETWORK, help="network file")
    demo.set_defaults(func=_cmd_demo)

    validate = sub.add_parser("validate", help="validate a network file against the models")
    validate.add_argument("file", type=Path, help="network file (RFC 7951 JSON)")
    validate.set_defaults(func=_cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
