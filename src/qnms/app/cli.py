"""The `qnms` command: one entry point, one sub-command per job.

Sub-commands import what they need lazily, so `qnms validate` does not pay for
SeQUeNCe or the NETCONF stack.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any


def _cmd_demo(args: argparse.Namespace) -> int:
    from qnms.app.demo import run_demo
    from qnms.network.inventory import NetworkError, load_network

    try:
        net = load_network(args.network)
    except NetworkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return run_demo(net, as_json=args.json, speed=args.speed)


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


def _agent_setup(args: argparse.Namespace):
    from qnms.network.inventory import load_network
    from qnms_agents.runner import credentials, default_state_root, read_users

    users = credentials(args.host, args.user, args.password, args.authorized_keys)
    if args.users:
        users.update(read_users(args.users))
    admins = args.admin or ([args.user] if args.user else ["admin"])
    security = {
        "recovery_user": args.recovery_user,
        "nacm_groups": {"admin": admins},
        "max_sessions": args.max_sessions,
        "max_sessions_per_user": args.max_sessions_per_user,
        "hello_timeout": args.hello_timeout,
        "idle_timeout": args.idle_timeout,
    }
    network = None
    if args.network:
        print(f"validating {args.network} ...", file=sys.stderr, flush=True)
        network = load_network(args.network)
    return users, network, args.state_dir or default_state_root(), security


def _cmd_agent(args: argparse.Namespace) -> int:
    from qnms.network.inventory import NetworkError
    from qnms_agents.base import Agent, AgentConfig
    from qnms_agents.runner import serve

    try:
        users, network, state_root, security = _agent_setup(args)
        config = AgentConfig(
            stratum=args.stratum,
            name=args.node,
            state_dir=state_root / f"{args.stratum}-{args.node}",
            host=args.host,
            port=args.port,
            users=users,
            authorized_keys=args.authorized_keys,
            **security,
        )
        agent = Agent(config, network)
    except (ValueError, NetworkError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    asyncio.run(serve([agent], qndt=args.qndt, services=_kmes(args, [agent], network)))
    return 0


def _cmd_agents(args: argparse.Namespace) -> int:
    from qnms.network.inventory import NetworkError
    from qnms_agents.runner import network_agents, serve

    try:
        users, network, state_root, security = _agent_setup(args)
        agents = network_agents(
            network,
            base_port=args.base_port,
            host=args.host,
            users=users,
            authorized_keys=args.authorized_keys,
            state_root=state_root,
            **security,
        )
    except (ValueError, NetworkError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    asyncio.run(serve(agents, qndt=args.qndt, services=_kmes(args, agents, network)))
    return 0


def _kmes(args: argparse.Namespace, agents: list, network: Any) -> list:
    """The KMEs of the SS agents when --kme-pki is given (agents/kme)."""
    if args.kme_pki is None:
        return []
    import json

    from qnms_agents.kme.attach import KmeGroup

    peers = json.loads(args.kme_peers.read_text()) if args.kme_peers else {}
    group = KmeGroup(
        agents, args.kme_pki, base_port=args.kme_base_port, network=network, peers=peers
    )
    return [group]


def _cmd_pki(args: argparse.Namespace) -> int:
    from qnms.app.pki import make_pki, network_identities
    from qnms.network.inventory import NetworkError

    kmes, saes = list(args.kme), list(args.sae)
    if not kmes and not saes:
        try:
            kmes, saes = network_identities(args.network)
        except NetworkError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    make_pki(args.out, kmes, saes, hosts=args.host)
    print(f"{args.out}: CA, {len(kmes)} KME and {len(saes)} SAE certificate(s)")
    return 0


def _cmd_orchestrator(args: argparse.Namespace) -> int:
    from qnms.netconf.protocol.server import is_loopback
    from qnms.network.inventory import NetworkError, load_network
    from qnms.orchestrator import inventory
    from qnms.orchestrator.northbound import OrchestratorConfig
    from qnms.orchestrator.serve import check_sync_report, serve

    try:
        if (args.user is None) != (args.password is None):
            raise ValueError("--user and --password go together")
        if args.user is None and not is_loopback(args.host):
            raise ValueError(f"refusing to listen on {args.host} with the default login")
        users = {args.user or "admin": args.password or "admin"}
        network = load_network(args.network)
        agents = (
            inventory.load_inventory(args.agents)
            if args.agents
            else inventory.from_network(
                network,
                args.base_port,
                username=args.agent_user,
                password=args.agent_password,
                domain=args.domain,
            )
        )
        if args.domain and args.domain not in {d["name"] for d in network.domains}:
            raise ValueError(f"--domain {args.domain}: no such domain in {network.source}")
    except (ValueError, NetworkError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    state = args.state_dir or Path.home() / ".local/state/qnms/orchestrator" / network.name
    if args.domain and not args.state_dir:
        state = state / args.domain
    config = OrchestratorConfig(
        agents=agents,
        state_dir=state,
        host=args.host,
        port=args.port,
        users=users,
        applications=network.applications,
        network=network.name,
        discovery_wait=args.wait,
        domain=args.domain,
    )
    if args.check_sync:
        return asyncio.run(check_sync_report(config))
    asyncio.run(serve(config))
    return 0


def _add_server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--state-dir", type=Path, help="where datastores and host keys live")
    p.add_argument("--user", help="NETCONF user (default on loopback: admin/admin)")
    p.add_argument("--password", help="password of --user")
    p.add_argument("--users", type=Path, metavar="FILE", help="more users: 'name:password' lines")
    p.add_argument("--authorized-keys", type=Path, metavar="PATH",
                   help="keys per user: a directory of <user>.pub files, or a file of "
                   "'<user> <key-type> <base64>' lines")  # fmt: skip
    p.add_argument("--admin", action="append", metavar="USER",
                   help="member of NACM group admin (permit-all) on first start; repeatable "
                   "(default: --user, else admin)")  # fmt: skip
    p.add_argument("--recovery-user", metavar="USER", help="bypasses NACM (RFC 8341 3.1.3)")
    p.add_argument("--max-sessions", type=int, default=64, help="sessions per agent (64)")
    p.add_argument("--max-sessions-per-user", type=int, help="sessions per user (no cap)")
    p.add_argument("--hello-timeout", type=float, default=60.0, help="seconds (60)")
    p.add_argument("--idle-timeout", type=float, default=3600.0,
                   help="seconds without an rpc, subscribers exempt (3600; 0: never)")  # fmt: skip
    p.add_argument("--qndt", metavar="ADDR", help="follow the QNDT engine's bus at ADDR")
    p.add_argument(
        "--kme-pki",
        type=Path,
        metavar="DIR",
        help="serve ETSI GS QKD 014 on SS agents with the certificates of `qnms pki`",
    )
    p.add_argument(
        "--kme-base-port",
        type=int,
        default=0,
        help="first HTTPS port of the KMEs (0: any free port)",
    )
    p.add_argument(
        "--kme-peers",
        type=Path,
        metavar="FILE",
        help="JSON {KME id: https URL} of the KMEs other processes serve",
    )


def build_parser() -> argparse.ArgumentParser:
    from qnms.network.inventory import DEFAULT_NETWORK

    parser = argparse.ArgumentParser(
        prog="qnms", description="Model-driven management of quantum networks."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the demo on the built-in default network")
    demo.add_argument("--network", type=Path, default=DEFAULT_NETWORK, help="network file")
    demo.add_argument("--json", action="store_true", help="print the units as JSON, no prose")
    demo.add_argument("--speed", type=float, default=1.0,
                      help="twin speed: simulated s per wall s (1.0: real time)")  # fmt: skip
    demo.set_defaults(func=_cmd_demo)

    validate = sub.add_parser("validate", help="validate a network file against the models")
    validate.add_argument("file", type=Path, help="network file (RFC 7951 JSON)")
    validate.set_defaults(func=_cmd_validate)

    agent = sub.add_parser("agent", help="run the NETCONF agent of one element")
    agent.add_argument("--stratum", required=True, choices=["ss", "qfs", "cs"])
    agent.add_argument("--node", required=True, help="node name (cs: domain name)")
    agent.add_argument("--port", type=int, default=8300, help="port (0: any free port)")
    agent.add_argument("--network", type=Path, help="seed the datastore from this network")
    _add_server_options(agent)
    agent.set_defaults(func=_cmd_agent)

    agents = sub.add_parser("agents", help="run one agent per element of a network")
    agents.add_argument("--network", type=Path, default=DEFAULT_NETWORK, help="network file")
    agents.add_argument("--base-port", type=int, default=8300, help="first port (0: any)")
    _add_server_options(agents)
    agents.set_defaults(func=_cmd_agents)

    orch = sub.add_parser("orchestrator", help="run the orchestrator on running agents")
    orch.add_argument("--network", type=Path, default=DEFAULT_NETWORK, help="network file")
    orch.add_argument("--base-port", type=int, default=8300, help="the agents' --base-port")
    orch.add_argument("--agents", type=Path, help="inventory file instead of --base-port")
    orch.add_argument("--port", type=int, default=8830, help="northbound port (0: any)")
    orch.add_argument(
        "--check-sync", action="store_true", help="report store vs agents; change nothing"
    )
    orch.add_argument("--wait", type=float, default=30, help="seconds to wait for agents")
    orch.add_argument("--domain", help="manage only this domain's agents and serve its "
                      "abstract view and segments to a parent (multi-domain)")  # fmt: skip
    orch.add_argument("--agent-user", default="admin", help="login on the agents")
    orch.add_argument("--agent-password", default="admin", help="password on the agents")
    orch.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    orch.add_argument("--state-dir", type=Path, help="store, datastores and host key")
    orch.add_argument("--user", help="northbound user (default admin/admin)")
    orch.add_argument("--password", help="password of --user")
    orch.set_defaults(func=_cmd_orchestrator)

    pki = sub.add_parser("pki", help="make a private CA, KME and SAE certificates (ETSI 014)")
    pki.add_argument("--out", type=Path, required=True, help="directory for the PEM files")
    pki.add_argument(
        "--network",
        type=Path,
        default=DEFAULT_NETWORK,
        help="take KME and SAE ids from this network (when none are given)",
    )
    pki.add_argument("--kme", action="append", default=[], help="a KME id (repeatable)")
    pki.add_argument("--sae", action="append", default=[], help="an SAE id (repeatable)")
    pki.add_argument(
        "--host",
        action="append",
        default=[],
        help="another address or name the KMEs listen on (repeatable; 127.0.0.1 always)",
    )
    pki.set_defaults(func=_cmd_pki)

    from qnms.app.service_parser import add_arguments as add_service_commands
    from qnms.qndt.cli import add_arguments as add_qndt

    add_service_commands(sub)
    add_qndt(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
