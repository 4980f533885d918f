"""`qnms up`, `request`, `status` and `watch`: the service model from a terminal.

Their arguments are registered by ``qnms.app.service_parser``, which imports this module
(and ncclient with it) only when one of the four commands runs.

`up` runs the whole system (``qnms.app.stack``) in the foreground; the other three are
NETCONF clients of the orchestrator's northbound and nothing else (``app.northbound``),
so they work against any orchestrator serving ``qnms-service``, local or remote.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

from lxml import etree
from ncclient.operations import RPCError
from ncclient.transport.errors import AuthenticationError, SSHError

from qnms.app import northbound as nb

SVC = nb.SVC
YP = nb.YP


def _login(args: argparse.Namespace) -> nb.Login:
    return nb.Login(args.host, args.port, args.user, args.password)


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


# -- up ------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    from qnms.app.stack import Stack, StackOptions
    from qnms.network.inventory import NetworkError, load_network
    from qnms_agents.runner import read_users

    try:
        network = load_network(args.network)
        users = read_users(args.users) if args.users else {}
    except (NetworkError, ValueError, OSError) as err:
        return _fail(str(err))
    state = args.state_dir or Path.home() / ".local/state/qnms/up" / network.name
    options = StackOptions(
        network=network,
        state_dir=state,
        port=args.port,
        user=args.user,
        password=args.password,
        speed=args.speed,
        seed=args.seed,
        multi_domain=args.multi_domain,
        kme_pki=args.kme_pki,
        users=users,
        console=not args.no_console,
        console_port=args.console_port,
    )
    try:
        return asyncio.run(_up(Stack(options)))
    except OSError as err:
        return _fail(str(err))


async def _up(stack: object) -> int:
    from qnms.app.stack import Stack

    assert isinstance(stack, Stack)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stack.start(lambda msg: print(msg, flush=True))
    o = stack.options
    try:
        print(
            f"northbound: netconf://{o.user}@{o.host}:{stack.port}  "
            f"(qnms status --port {stack.port}); Ctrl-C stops everything",
            flush=True,
        )
        if stack.console is not None:
            print(
                f"console:    {stack.console.url}  (log in as {o.user} with its password, "
                "or as any northbound user)",
                flush=True,
            )
        await stop.wait()
    finally:
        print("stopping orchestrator, agents and twin", file=sys.stderr, flush=True)
        await stack.stop()
    return 0


# -- request / status ----------------------------------------------------------------


def cmd_request(args: argparse.Namespace) -> int:
    endpoints = (args.originator, *[u for u in args.to if u != args.originator])
    unit = nb.UnitRequest(
        name=args.name,
        originator=args.originator,
        endpoints=endpoints,
        size=args.size,
        valid_until=int(time.time()) + args.valid_for,
        service_type=args.type,
        target_fidelity=args.fidelity,
        swapping_depth_cap=args.depth_cap,
        purification_allowed=False if args.no_purification else None,
    )
    try:
        with nb.connect(_login(args)) as m:
            t0 = time.monotonic()
            nb.request_unit(m, unit)
            print(f"{args.name}: requested", flush=True)
            if not args.timeout:
                return 0

            def show(st: nb.UnitStatus) -> None:
                why = f" ({st.failure_reason})" if st.failure_reason else ""
                print(f"{st.name}: {st.state}{why}  [{time.monotonic() - t0:.2f} s]", flush=True)

            seen = nb.wait_for(m, [args.name], timeout=args.timeout, on_change=show)
    except RPCError as err:
        return _fail(f"refused: {nb.error_text(err)}")
    except (AuthenticationError, SSHError, OSError) as err:
        return _fail(f"cannot reach the orchestrator at {args.host}:{args.port}: {err}")
    final = seen.get(args.name)
    if final is None or final.state not in nb.TERMINAL:
        return _fail(f"{args.name} not settled after {args.timeout:g} s", 1)
    for line in nb.format_table([final]):
        print(line)
    return 0 if final.state == "active" else 1


def cmd_status(args: argparse.Namespace) -> int:
    try:
        with nb.connect(_login(args)) as m:
            units = nb.read_units(m, args.name)
    except (AuthenticationError, SSHError, OSError) as err:
        return _fail(f"cannot reach the orchestrator at {args.host}:{args.port}: {err}")
    if args.name and not units:
        return _fail(f"no service unit named {args.name!r}", 1)
    if args.json:
        print(json.dumps([asdict(u) for u in units], indent=2))
    else:
        for line in nb.format_table(units):
            print(line)
    return 0


# -- watch ---------------------------------------------------------------------------


def cmd_watch(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout if args.timeout else None
    shown = 0
    try:
        with nb.connect(_login(args)) as m:
            nb.subscribe_events(m)
            nb.subscribe_units(m)
            print("watching service units (Ctrl-C to stop)", file=sys.stderr, flush=True)
            while args.count is None or shown < args.count:
                wait = 1.0 if deadline is None else deadline - time.monotonic()
                if wait <= 0:
                    break
                note = m.take_notification(timeout=min(wait, 1.0))
                if note is None:
                    continue
                for line in describe_notification(note.notification_ele):
                    print(line, flush=True)
                    shown += 1
    except KeyboardInterrupt:
        return 0
    except RPCError as err:
        return _fail(nb.error_text(err))
    except (AuthenticationError, SSHError, OSError) as err:
        return _fail(f"cannot reach the orchestrator at {args.host}:{args.port}: {err}")
    return 0


def describe_notification(note: etree._Element) -> list[str]:
    """One line per thing a user follows: a state change (RFC 8639 event stream), or a
    changed leaf of a unit in a push-update / push-change-update (RFC 8641)."""
    when = note.findtext("{urn:ietf:params:xml:ns:netconf:notification:1.0}eventTime", "")
    change = note.find(f"{{{SVC}}}service-unit-state-change")
    if change is not None:
        name = change.findtext(f"{{{SVC}}}name", "")
        prev = change.findtext(f"{{{SVC}}}previous-state", "-")
        state = change.findtext(f"{{{SVC}}}state", "")
        reason = change.findtext(f"{{{SVC}}}reason")
        return [f"{when} {name}: {prev} -> {state}" + (f" ({reason})" if reason else "")]
    lines = []
    for edit in (e for e in note.iter() if etree.QName(e).localname == "edit"):
        target = next((c.text for c in edit if etree.QName(c).localname == "target"), "")
        op = next((c.text for c in edit if etree.QName(c).localname == "operation"), "")
        value = next((c for c in edit if etree.QName(c).localname == "value"), None)
        if value is None:  # an RFC 6470 config-change edit: what changed, not the value
            lines.append(f"{when} {op} {target}")
            continue
        leaves = [x for x in value.iter() if len(x) == 0]
        text = leaves[0].text if len(leaves) == 1 else f"{len(leaves)} leaves"
        lines.append(f"{when} {op} {target} = {text}")
    for unit in note.iter(f"{{{SVC}}}service-unit"):
        name = unit.findtext(f"{{{SVC}}}name", "?")
        for leaf in ("state", "delivery/delivered-units", "qos/measured/achieved-fidelity"):
            text = unit.findtext("/".join(f"{{{SVC}}}{p}" for p in leaf.split("/")))
            if text is not None:
                lines.append(f"{when} {name}: {leaf} = {text}")
    return lines
