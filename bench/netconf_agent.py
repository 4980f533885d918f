"""NETCONF agent speed: our QFS agent against netconfd (yuma123, C), same module, same client.

Both servers serve qnms-quantum-fabric seeded with the ``madqci-r1`` element of the
default network, and are driven by the same ncclient client (``TICK`` = 5 ms, see
STACK-NOTES; TCP_NODELAY, see ``connect``) from this process, one server at a time:

1. edit-config round trips per second: N merges on running, each toggling the
   ``enabled`` leaf of one quantum link;
2. get-config round trips per second: N get-configs of the whole (small) running;
3. 1,000 list entries: one edit-config adding 1,000 quantum links (timed once), then a
   get-config of that list with a subtree filter (median of ``--repeat`` calls); the
   goal for that get is < 100 ms.

Under the two rates, each server's own latency on the wire (``wire_latency``: tcpdump
on loopback, the request's last packet to the reply's first; median of the same round
trips): the rates hold ncclient's tick and client work too, this is the server alone.

The agent runs in a child process, as netconfd does, so the client does not share its
GIL. netconfd is reached through a private sshd (temp host key, temp authorized key,
``Subsystem netconf netconf-subsystem --ncxserver-sockname=PORT@SOCK``); netconfd itself
takes the bare socket path. Everything listens on 127.0.0.1 only, lives in a temp
directory and is stopped at the end. If netconfd cannot be run, the qnms figures are
still printed with the reason. Known side effects outside the temp directory, both
yuma123's: netconfd writes ``~/.yuma/startup-cfg-txid.txt`` (it finds ~ via getpwuid),
and sshd run as root needs its privilege-separation directory /run/sshd (created if
missing, as the openssh-server service would).

``--fast`` replaces ncclient by a pipelined raw asyncssh client (``netconf_fast.py``,
``--depth`` requests in flight on one session) and prints the round trips per second
each server sustains for the same edit-config and get-config, and their ratio.

``--profile`` instead runs the agent in this process under cProfile (its loop thread
only) and prints where the time goes (``netconf_profile``): ``small`` (the default)
drives it with the pipelined client from a child process and groups the cost of one
small edit-config / get-config by stage; ``bulk`` profiles the 1,000-entry edit and gets
(through ncclient in this process).

    .venv/bin/python bench/netconf_agent.py [--n 200] [--entries 1000] [--repeat 10]
    .venv/bin/python bench/netconf_agent.py --fast [--n 2000] [--depth 16]
    .venv/bin/python bench/netconf_agent.py --profile [small|bulk] [--n 500]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ncclient.transport.session
from ncclient import manager

ncclient.transport.session.TICK = 0.005  # STACK-NOTES: ~100 ms per RPC otherwise

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the test support package: support.processes

from netconf_fast import Rate, measure_capacity  # noqa: E402
from netconf_figures import Figures, fmt, report  # noqa: E402
from netconf_profile import profile_phases, profile_small  # noqa: E402
from netconfd import netconfd_server, seed_from  # noqa: E402
from support.processes import PASSWORD, USER, AgentProcess, start_agent  # noqa: E402
from wire_latency import WireCapture  # noqa: E402

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
QFS = "urn:qnms:yang:qnms-quantum-fabric"
ELEMENT = "madqci-r1"
TOGGLED = "f-r1-r2"  # a quantum link of madqci-r1


# ------------------------------------------------------------------- workload


def toggle_config(enabled: bool) -> str:
    value = "true" if enabled else "false"
    return (
        f'<config xmlns="{NC}"><quantum-fabric xmlns="{QFS}"><quantum-links><quantum-link>'
        f"<name>{TOGGLED}</name><enabled>{value}</enabled>"
        "</quantum-link></quantum-links></quantum-fabric></config>"
    )


def bulk_config(entries: int) -> str:
    links = "".join(
        f"<quantum-link><name>bench-{i:05d}</name><remote-node>bench-node-{i:05d}</remote-node>"
        f"<local-memory>mem0</local-memory><channel>bench-ch-{i:05d}</channel></quantum-link>"
        for i in range(entries)
    )
    return (
        f'<config xmlns="{NC}"><quantum-fabric xmlns="{QFS}"><quantum-links>{links}'
        "</quantum-links></quantum-fabric></config>"
    )


LINKS_FILTER = f'<quantum-fabric xmlns="{QFS}"><quantum-links/></quantum-fabric>'


def count_links(reply: Any) -> int:
    return len(reply.data_ele.findall(f".//{{{QFS}}}quantum-link"))


def rate(n: int, fn: Callable[[int], Any]) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - start)


def measure(m: Any, n: int, entries: int, repeat: int, port: int) -> Figures:
    """The three measurements through one ncclient session ``m`` to ``port``, the
    round trips watched on the wire (``wire_latency``) for the server's own latency."""
    fig = Figures()
    base = count_links(m.get_config("running", filter=("subtree", LINKS_FILTER)))
    for i in range(5):  # warm-up: first-call costs (imports, caches) are not per-RPC cost
        m.edit_config(target="running", config=toggle_config(i % 2 == 1))
        m.get_config("running")
    with WireCapture(port) as wire:
        fig.edit_rps = rate(
            n, lambda i: m.edit_config(target="running", config=toggle_config(i % 2 == 1))
        )
    fig.edit_wire_us, fig.wire_error = wire.median_us, wire.error
    final = m.get_config("running", filter=("subtree", LINKS_FILTER)).data_ele
    enabled = final.xpath(
        f"//q:quantum-link[q:name='{TOGGLED}']/q:enabled/text()", namespaces={"q": QFS}
    )
    assert enabled in ([], ["true"]), f"toggle ended at {enabled}"  # n even: back to true
    with WireCapture(port) as wire:
        fig.get_rps = rate(n, lambda _: m.get_config("running"))
    fig.get_wire_us = wire.median_us

    config = bulk_config(entries)
    start = time.perf_counter()
    m.edit_config(target="running", config=config)
    fig.load_s = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        reply = m.get_config("running", filter=("subtree", LINKS_FILTER))
        times.append(time.perf_counter() - start)
        got = count_links(reply)
        assert got == base + entries, f"expected {base + entries} links, got {got}"
    fig.get_bulk_all_ms = [t * 1000 for t in times]
    fig.get_bulk_ms = statistics.median(fig.get_bulk_all_ms)
    return fig


def connect(port: int, **auth: Any) -> Any:
    """An ncclient session over a TCP_NODELAY socket.

    paramiko leaves Nagle on: after a large reply it sends a small window-adjust, and
    the next request then waits for the server's delayed ACK, adding ~40 ms to about
    a third of the bulk gets whatever the server. That is the client's cost, not the
    server's, so both servers are measured without it.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return manager.connect(
        sock=sock,
        host="127.0.0.1",
        port=port,
        hostkey_verify=False,
        look_for_keys=False,
        allow_agent=False,
        timeout=180,
        **auth,
    )


# --------------------------------------------------------------------- runs


def run_compare(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="qnms-bench-nc-") as tmpdir:
        tmp = Path(tmpdir)
        q = Figures()
        seed = None
        t0 = time.perf_counter()
        agent = AgentProcess(tmp / "agent", name=ELEMENT)
        try:
            print(
                f"qnms agent {ELEMENT} on 127.0.0.1:{agent.port} ({time.perf_counter() - t0:.1f} s)"
            )
            m = connect(agent.port, username=USER, password=PASSWORD)
            try:
                seed = seed_from(m)
                q = measure(m, args.n, args.entries, args.repeat, agent.port)
            except Exception as exc:
                q.error = f"{type(exc).__name__}: {exc}"
            finally:
                m.close_session()
        finally:
            agent.stop()
        print(f"qnms measured ({time.perf_counter() - t0:.1f} s)")

        c = Figures()
        if seed is None:
            c.error = "no seed configuration (the qnms agent failed)"
        else:
            try:
                (tmp / "netconfd").mkdir()
                with netconfd_server(tmp / "netconfd", seed) as (port, auth, _pids):
                    print(f"netconfd behind sshd on 127.0.0.1:{port}")
                    m = connect(port, **auth)
                    try:
                        c = measure(m, args.n, args.entries, args.repeat, port)
                    finally:
                        m.close_session()
            except Exception as exc:
                c.error = f"{type(exc).__name__}: {exc}"
        print(f"netconfd measured ({time.perf_counter() - t0:.1f} s)")
        report(q, c, args.entries, args.repeat)


def toggle_edits() -> list[str]:
    """The edit-config rpc bodies of the toggle workload, on then off."""
    return [
        f"<edit-config><target><running/></target>{toggle_config(on)}</edit-config>"
        for on in (False, True)
    ]


def run_fast(args: argparse.Namespace) -> None:
    """Server capacity: the pipelined client against the agent, then netconfd."""
    results: dict[str, tuple[Rate, Rate] | str] = {}
    with tempfile.TemporaryDirectory(prefix="qnms-bench-fast-") as tmpdir:
        tmp = Path(tmpdir)
        agent = AgentProcess(tmp / "agent", name=ELEMENT)
        try:
            m = connect(agent.port, username=USER, password=PASSWORD)
            try:
                seed = seed_from(m)
            finally:
                m.close_session()
            auth = {"username": USER, "password": PASSWORD, "client_keys": None}
            results["qnms"] = measure_capacity(
                agent.port, auth, toggle_edits(), args.n, args.depth, [agent.proc.pid]
            )
        finally:
            agent.stop()
        try:
            (tmp / "netconfd").mkdir()
            with netconfd_server(tmp / "netconfd", seed) as (port, nc_auth, pids):
                auth = {"username": nc_auth["username"], "client_keys": [nc_auth["key_filename"]]}
                results["netconfd"] = measure_capacity(
                    port, auth, toggle_edits(), args.n, args.depth, pids
                )
        except Exception as exc:
            results["netconfd"] = f"NOT MEASURED: {type(exc).__name__}: {exc}"
    print(f"\nserver capacity, one session, {args.depth} requests in flight, {args.n} each:")
    print(f"{'round trips/s':<28}{'qnms':>12}{'netconfd':>12}{'ratio':>9}")
    q, c = results["qnms"], results["netconfd"]
    assert not isinstance(q, str)
    for i, label in enumerate(("edit-config", "get-config")):
        qv = q[i].rps
        cv = c[i].rps if not isinstance(c, str) else None
        ratio = fmt(qv / cv if cv else None, ".2f")
        print(f"{label:<28}{qv:>12,.1f}{fmt(cv, ',.1f'):>12}{ratio:>9}")
    print(f"{'server CPU per round trip, us':<28}{'qnms':>12}{'netconfd':>12}{'ratio':>9}")
    for i, label in enumerate(("edit-config", "get-config")):
        qc = q[i].cpu_us
        cc = c[i].cpu_us if not isinstance(c, str) else None
        ratio = fmt(cc / qc if qc and cc else None, ".2f")
        print(f"{label:<28}{fmt(qc, ',.0f'):>12}{fmt(cc, ',.0f'):>12}{ratio:>9}")
    if isinstance(c, str):
        print(f"netconfd: {c}")
    print(
        "ratio: qnms/netconfd for rates, netconfd/qnms for CPU; >= 1.0 means qnms "
        "sustains at least as many, or spends no more CPU (netconfd's includes its sshd "
        "and netconf-subsystem, qnms's its SSH)."
    )


def run_profile(args: argparse.Namespace) -> None:
    """cProfile of the agent's loop thread (``netconf_profile``): small pipelined edits
    and gets (``--profile small``) or the bulk edit and gets (``--profile bulk``)."""
    with tempfile.TemporaryDirectory(prefix="qnms-bench-prof-") as tmpdir:
        agent = start_agent(Path(tmpdir) / "agent", name=ELEMENT)
        try:
            if args.profile == "small":
                profile_small(agent, USER, PASSWORD, args.n, args.depth, args.top)
                return
            m = connect(agent.port, username=USER, password=PASSWORD)
            try:
                profile_phases(
                    agent,
                    [
                        (
                            f"edit-config of {args.entries:,} entries",
                            lambda: m.edit_config(
                                target="running", config=bulk_config(args.entries)
                            ),
                        ),
                        (
                            f"{args.repeat} get-configs of {args.entries:,} entries",
                            lambda: [
                                m.get_config("running", filter=("subtree", LINKS_FILTER))
                                for _ in range(args.repeat)
                            ],
                        ),
                    ],
                    args.top,
                )
            finally:
                m.close_session()
        finally:
            agent.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=200, help="round trips per rate (even)")
    p.add_argument("--entries", type=int, default=1000, help="list entries loaded")
    p.add_argument("--repeat", type=int, default=10, help="timed gets of the entries")
    p.add_argument(
        "--profile",
        nargs="?",
        const="small",
        choices=("small", "bulk"),
        help="profile the agent instead: small pipelined RPCs (default) or the bulk ones",
    )
    p.add_argument("--fast", action="store_true", help="server capacity, pipelined client")
    p.add_argument("--depth", type=int, default=16, help="--fast: requests in flight")
    p.add_argument("--top", type=int, default=25, help="rows per profile table")
    args = p.parse_args()
    args.n += args.n % 2  # even: the toggled leaf ends where it started
    if args.profile:
        run_profile(args)
    elif args.fast:
        run_fast(args)
    else:
        run_compare(args)


if __name__ == "__main__":
    main()
