"""YANG-Push telemetry: push-update throughput and change-to-notification latency.

An agent-like NETCONF server runs in a child process (as an agent would, so clients
do not share its GIL): the qnms server core over a small QFS-like module, ``LINKS``
quantum links whose config-false telemetry (attempts, successes, success probability,
last fidelity, and the time of the last change in microseconds) a driver thread
changes every 5-15 ms, calling ``NetconfServer.state_changed()`` as an agent must.

1. latency: an ncclient session holds an on-change subscription (dampening 0) on the
   links' telemetry; each push-change-update carries the ``changed-at`` of the change,
   so arrival minus changed-at is the change-to-notification latency (p50/p99). In the
   same run, the same session times plain ``<get>`` round trips with the same
   selection (p50): the goal is p99 latency < get p50.
2. throughput: raw asyncssh subscribers (ncclient would be the bottleneck, not the
   server) each establish ``--subs`` periodic subscriptions (1 centisecond, one link
   each) and count the push-updates that arrive over ``--seconds``, for one and for
   ten subscribers. Offered load, delivered rate and the server's own count of
   records not sent in the window (``qss:dropped-event-records``: a full outbox, or a
   period the server fell behind on) are printed. Goal: >= 5,000/s to one subscriber.

    .venv/bin/python bench/telemetry.py [--links 64] [--subs 64] [--subs10 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import asyncssh
import ncclient.transport.session
from lxml import etree
from ncclient import manager
from ncclient.xml_ import to_ele

ncclient.transport.session.TICK = 0.005  # STACK-NOTES: ~100 ms per RPC otherwise

USER, PASSWORD = "bench", "bench-pw"
BT = "urn:qnms:bench:telemetry"
SN = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
YP = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
DS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
QSS = "urn:qnms:yang:qnms-subscription-stats"
MODULE = """module qnms-bench-telemetry {
  yang-version 1.1;
  namespace "urn:qnms:bench:telemetry";
  prefix bt;
  description "QFS-like link telemetry for the YANG-Push benchmark.";
  revision 2026-11-26 { description "Initial revision."; }
  container fabric {
    description "Quantum links.";
    list link {
      key "name";
      description "A quantum link.";
      leaf name { type string; description "Link name."; }
      leaf enabled { type boolean; default "true"; description "Administrative state."; }
      container telemetry {
        config false;
        description "Live counters.";
        leaf attempts { type uint64; description "Generation attempts."; }
        leaf successes { type uint64; description "Heralded successes."; }
        leaf success-probability {
          type decimal64 { fraction-digits 6; } description "successes / attempts.";
        }
        leaf last-fidelity {
          type decimal64 { fraction-digits 6; } description "Fidelity of the last pair.";
        }
        leaf changed-at { type uint64; units "microseconds"; description "Epoch time."; }
      }
    }
  }
}
"""


# ----------------------------------------------------------------------- the agent side


class LinkTelemetry:
    """The live state: changed by the driver thread, read by the server's loop."""

    def __init__(self, links: list[str]) -> None:
        self.links = links
        self.lock = threading.Lock()
        self.values = {name: [0, 0, 0.0, int(time.time() * 1e6)] for name in links}

    def bump(self, name: str, rng: random.Random) -> None:
        with self.lock:
            v = self.values[name]
            v[0] += rng.randint(50, 200)
            v[1] += rng.randint(1, 10)
            v[2] = rng.uniform(0.85, 0.99)
            v[3] = int(time.time() * 1e6)

    def state(self) -> list[etree._Element]:
        q = f"{{{BT}}}"
        fabric = etree.Element(q + "fabric", nsmap={None: BT})
        with self.lock:
            snapshot = {k: list(v) for k, v in self.values.items()}
        for name, (att, suc, fid, at) in snapshot.items():
            link = etree.SubElement(fabric, q + "link")
            etree.SubElement(link, q + "name").text = name
            t = etree.SubElement(link, q + "telemetry")
            etree.SubElement(t, q + "attempts").text = str(att)
            etree.SubElement(t, q + "successes").text = str(suc)
            etree.SubElement(t, q + "success-probability").text = f"{suc / att if att else 0:.6f}"
            etree.SubElement(t, q + "last-fidelity").text = f"{fid:.6f}"
            etree.SubElement(t, q + "changed-at").text = str(at)
        return [fabric]


def serve(nlinks: int, profile: bool = False) -> None:
    """The child process: an agent-like server; prints its port, runs until stdin ends."""
    from qnms.netconf.datastore.manager import DatastoreManager
    from qnms.netconf.server import NetconfServer, ServerOptions

    tmp = Path(tempfile.mkdtemp(prefix="qnms-bench-"))
    (tmp / "qnms-bench-telemetry.yang").write_text(MODULE)
    links = [f"L{i:03d}" for i in range(nlinks)]
    config = etree.Element(f"{{{BT}}}fabric", nsmap={None: BT})
    for name in links:
        link = etree.SubElement(config, f"{{{BT}}}link")
        etree.SubElement(link, f"{{{BT}}}name").text = name
    live = LinkTelemetry(links)
    ds = DatastoreManager([tmp / "qnms-bench-telemetry.yang"], initial=config, state_provider=live)
    options = ServerOptions(host="127.0.0.1", port=0, state_dir=tmp / "state",
                            users={USER: PASSWORD}, on_change_poll=None,
                            max_subscriptions_per_session=1024)  # fmt: skip
    server = NetconfServer(ds, options=options)
    stop = threading.Event()

    def drive() -> None:  # the emulation: results arrive, the agent says so
        rng = random.Random(7)
        while not stop.is_set():
            time.sleep(rng.uniform(0.005, 0.015))
            live.bump(rng.choice(links), rng)
            server.state_changed()

    async def main() -> None:
        await server.start()
        print(server.port, flush=True)
        threading.Thread(target=drive, daemon=True).start()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        stop.set()
        await server.stop()

    if not profile:
        asyncio.run(main())
        return
    prof = cProfile.Profile()  # the event loop thread only
    prof.runcall(asyncio.run, main())
    pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(30)


# ------------------------------------------------------------------------ the clients


def connect(port: int) -> Any:
    return manager.connect(host="127.0.0.1", port=port, username=USER, password=PASSWORD,
                           hostkey_verify=False, look_for_keys=False, allow_agent=False,
                           timeout=30)  # fmt: skip


def establish_body(select: str, trigger: str) -> str:
    return (
        f'<establish-subscription xmlns="{SN}" xmlns:yp="{YP}" xmlns:ds="{DS}">'
        "<yp:datastore>ds:operational</yp:datastore>"
        f"<yp:datastore-subtree-filter>{select}</yp:datastore-subtree-filter>{trigger}"
        "</establish-subscription>"
    )


TELEMETRY = f'<fabric xmlns="{BT}"><link><telemetry/></link></fabric>'


def latency(port: int, samples: int, gets: int) -> tuple[list[float], list[float]]:
    """(change-to-notification latencies, get round trips), both in ms."""
    lat: list[float] = []
    rtt: list[float] = []
    with connect(port) as m:
        body = establish_body(TELEMETRY, "<yp:on-change><yp:dampening-period>0"
                              "</yp:dampening-period></yp:on-change>")  # fmt: skip
        m.dispatch(to_ele(body))
        q = f"{{{BT}}}"
        while len(lat) < samples:
            n = m.take_notification(timeout=5)
            if n is None:
                raise RuntimeError("no push-change-update within 5 s")
            now = time.time() * 1e6
            root = etree.fromstring(n.notification_xml.encode())
            stamps = [int(e.text) for e in root.iter(q + "changed-at")]
            if "push-change-update" in n.notification_xml and stamps:
                lat.append((now - max(stamps)) / 1000)
        flt = ("subtree", TELEMETRY)
        m.get(filter=flt)
        for _ in range(gets):
            t0 = time.perf_counter()
            m.get(filter=flt)
            rtt.append((time.perf_counter() - t0) * 1000)
    return lat, rtt


HELLO = (f'<hello xmlns="{NC}"><capabilities><capability>urn:ietf:params:netconf:base:1.0'
         "</capability></capabilities></hello>]]>]]>").encode()  # fmt: skip


class Counter:
    """A subscriber counting push-updates in the raw stream (base:1.0 framing)."""

    def __init__(self) -> None:
        self.count = 0
        self.tail = b""
        self.buf = b""

    async def run(self, port: int, nsubs: int, nlinks: int, ready: asyncio.Event,
                  done: asyncio.Event) -> None:  # fmt: skip
        conn = await asyncssh.connect(
            "127.0.0.1", port, username=USER, password=PASSWORD,
            known_hosts=None, client_keys=None, agent_path=None,
        )  # fmt: skip
        w, r, _ = await conn.open_session(subsystem="netconf", encoding=None)
        w.write(HELLO)
        for i in range(nsubs):
            sel = f'<fabric xmlns="{BT}"><link><name>L{i % nlinks:03d}</name></link></fabric>'
            body = establish_body(sel, "<yp:periodic><yp:period>1</yp:period></yp:periodic>")
            w.write(f'<rpc message-id="{i}" xmlns="{NC}">{body}</rpc>]]>]]>'.encode())
        replies = 0
        while replies < nsubs:  # the hello and the replies (push-updates start meanwhile)
            data = await r.read(1 << 16)
            if not data:
                raise RuntimeError("server closed the session")
            self.buf += data
            replies = self.buf.count(b"<rpc-reply")
        if b"rpc-error" in self.buf:
            raise RuntimeError(self.buf.decode(errors="replace")[:2000])
        self.buf = b""
        ready.set()
        while not done.is_set():
            data = await r.read(1 << 16)
            if not data:
                break
            chunk = self.tail + data
            self.count += chunk.count(b"<push-update")
            self.tail = chunk[-16:]
            if b"<push-update" in self.tail:
                self.count -= self.tail.count(b"<push-update")
        w.write(f'<rpc message-id="end" xmlns="{NC}"><close-session/></rpc>]]>]]>'.encode())
        with contextlib.suppress(TimeoutError):  # drain until the server closes
            while await asyncio.wait_for(r.read(1 << 16), 5):
                pass
        conn.close()


async def throughput(port: int, clients: int, nsubs: int, nlinks: int,
                     seconds: float) -> tuple[float, int, int]:  # fmt: skip
    """(push-updates/s over the window, records the server dropped or could not produce
    in it, subscriptions suspended at its end)."""
    counters = [Counter() for _ in range(clients)]
    readies = [asyncio.Event() for _ in counters]
    done = asyncio.Event()
    tasks = [asyncio.create_task(c.run(port, nsubs, nlinks, ev, done))
             for c, ev in zip(counters, readies, strict=True)]  # fmt: skip
    await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in readies)), 60)
    await asyncio.sleep(1.0)  # warm up
    dropped0 = await asyncio.to_thread(drops, port)
    start = [c.count for c in counters]
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    got = sum(c.count for c in counters) - sum(start)
    rate = got / (time.perf_counter() - t0)
    dropped1 = await asyncio.to_thread(drops, port)
    done.set()
    await asyncio.wait(tasks, timeout=10)
    return rate, dropped1[0] - dropped0[0], dropped1[1]


def drops(port: int) -> tuple[int, int]:
    """(dropped records, suspended subscriptions) as the server reports them."""
    with connect(port) as m:
        data = m.get(filter=("subtree", f'<subscriptions xmlns="{SN}"/>')).data
    dropped = sum(int(e.text) for e in data.iter(f"{{{QSS}}}dropped-event-records"))
    suspended = sum(1 for e in data.iter(f"{{{SN}}}state") if e.text == "suspended")
    return dropped, suspended


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--links", type=int, default=64)
    ap.add_argument("--subs", type=int, default=64, help="subscriptions of the one subscriber")
    ap.add_argument("--subs10", type=int, default=16, help="subscriptions of each of ten")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--profile", action="store_true", help="profile the server (stderr)")
    args = ap.parse_args()
    if args.serve:
        serve(args.links, args.profile)
        return
    cmd = [sys.executable, __file__, "--serve", "--links", str(args.links)]
    cmd += ["--profile"] if args.profile else []
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        lat, rtt = latency(port, args.samples, gets=200)
        one, *d1 = asyncio.run(throughput(port, 1, args.subs, args.links, args.seconds))
        ten, *d10 = asyncio.run(throughput(port, 10, args.subs10, args.links, args.seconds))
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(10)
    get50 = statistics.median(rtt)
    p50, p99 = pct(lat, 50), pct(lat, 99)
    print(f"YANG-Push telemetry ({args.links} links, server in a child process)")
    print(f"  change -> push-change-update at ncclient: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
          f"({len(lat)} changes)")  # fmt: skip
    print(f"  <get> round trip, same selection:        p50 {get50:.2f} ms, "
          f"p99 {pct(rtt, 99):.2f} ms ({len(rtt)} gets)")  # fmt: skip
    print(f"  ratio p99 latency / get p50: {p99 / get50:.2f} (goal < 1)")
    print(f"  1 subscriber,  {args.subs} x 1 cs periodic (offered {args.subs * 100}/s): "
          f"{one:,.0f} push-updates/s; dropped {d1[0]}, suspended {d1[1]}")  # fmt: skip
    print(f"  10 subscribers, {args.subs10} x 1 cs each (offered {args.subs10 * 1000}/s): "
          f"{ten:,.0f} push-updates/s in all, {ten / 10:,.0f}/s each; dropped {d10[0]}, "
          f"suspended {d10[1]}")  # fmt: skip
    print(f"  ratio 1-subscriber rate / goal 5,000/s: {one / 5000:.2f} (goal >= 1)")


if __name__ == "__main__":
    main()
