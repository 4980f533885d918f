"""Console latency: a state change at an agent until the page shows it, against the
orchestrator's own push latency, measured side by side in the same run.

The whole system runs (twin, agents, orchestrator, console) on the default network. A
change that is cheap and repeatable at an agent: the bench toggles ``enabled`` of one
quantum link on its QFS agent over NETCONF (the agent reports the link's oper-state
down, then up). For each of ``--changes`` toggles it takes, on the same clock:

- t0: just before the agent's edit-config is sent;
- northbound: when a plain ncclient subscriber (an RFC 8641 on-change subscription to
  ``/nw-s:networks`` on the orchestrator's northbound, as any NETCONF client would hold)
  receives the push-change-update that carries the link's new oper-state;
- page: when the console page in Debian's chromium has rendered the link's new state
  (the page stamps ``performance.timeOrigin + performance.now()``, epoch milliseconds
  of the same machine clock, in ``window.qnmsSeen`` right after updating the map).

It prints p50/p99 of both latencies and the ratio page/northbound (goal <= 1.5x).

    nice -n 10 .venv/bin/python bench/console_latency.py [--changes 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import ncclient.transport.session
from lxml import etree
from ncclient import manager
from ncclient.xml_ import to_ele
from playwright.sync_api import sync_playwright

from qnms.app.background import BackgroundLoop
from qnms.app.console.feed import NETWORKS, on_change
from qnms.app.stack import Stack, StackOptions
from qnms.network.inventory import load_network

ncclient.transport.session.TICK = 0.005
QFS = "urn:qnms:yang:qnms-quantum-fabric"
YP = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
NODE, LINK = "madqci-alice", "f-alice-r1"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def connect(host: str, port: int, user: str, password: str) -> manager.Manager:
    return manager.connect(host=host, port=port, username=user, password=password,
                           hostkey_verify=False, allow_agent=False, look_for_keys=False,
                           timeout=30)  # fmt: skip


class Subscriber:
    """A plain NETCONF client of the northbound: arrival times of the link's oper-state."""

    def __init__(self, m: manager.Manager, link_id: str) -> None:
        self.m = m
        self.target = f"link={quote(link_id, safe='')}/qnms-topology:quantum-link/oper-state"
        self.seen: list[tuple[float, str]] = []
        m.dispatch(to_ele(on_change(NETWORKS)))
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            note = self.m.take_notification(block=True, timeout=0.5)
            if note is None:
                continue
            arrived = time.time()
            root = etree.fromstring(note.notification_xml.encode())
            for edit in root.iter(f"{{{YP}}}edit"):
                if (edit.findtext(f"{{{YP}}}target") or "").endswith(self.target):
                    value = edit.find(f"{{{YP}}}value")
                    state = "".join(value.itertext()).strip() if value is not None else ""
                    self.seen.append((arrived, state))

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)


def set_enabled(m: manager.Manager, enabled: bool) -> None:
    cfg = (f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><quantum-fabric '
           f'xmlns="{QFS}"><quantum-links><quantum-link><name>{LINK}</name>'
           f"<enabled>{str(enabled).lower()}</enabled></quantum-link></quantum-links>"
           "</quantum-fabric></config>")  # fmt: skip
    m.edit_config(target="running", config=to_ele(cfg))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--changes", type=int, default=100)
    args = ap.parse_args()
    options = StackOptions(network=load_network(), state_dir=Path(tempfile.mkdtemp()),
                           console=True)  # fmt: skip
    link_id = f"{NODE}/{LINK}"
    with BackgroundLoop() as bg:
        stack = Stack(options)
        bg.run(stack.start(), timeout=180)
        assert stack.console is not None
        try:
            agent = connect(*stack.agent_login("qfs", NODE))
            sub = Subscriber(connect(options.host, stack.port, options.user, options.password),
                             link_id)  # fmt: skip
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                            args=CHROMIUM_ARGS)  # fmt: skip
                page = browser.new_page()
                page.goto(stack.console.url)
                page.fill("#login-user", options.user)
                page.fill("#login-password", options.password)
                page.click("#login-button")
                sel = f"#topology .link[data-link='{link_id}'][data-state='up']"
                page.wait_for_selector(sel, state="attached", timeout=60_000)
                north, shown = [], []
                for i in range(args.changes):
                    want = "down" if i % 2 == 0 else "up"
                    n_sub = len(sub.seen)
                    n_page = page.evaluate(
                        f"window.qnmsSeen.filter(e => e.link === '{link_id}').length"
                    )
                    t0 = time.time()
                    set_enabled(agent, want == "up")
                    page.wait_for_function(
                        f"window.qnmsSeen.filter(e => e.link === '{link_id}').length > {n_page}",
                        timeout=30_000,
                    )
                    deadline = time.time() + 30
                    while len(sub.seen) <= n_sub and time.time() < deadline:
                        time.sleep(0.002)
                    ev = page.evaluate(
                        f"window.qnmsSeen.filter(e => e.link === '{link_id}').slice(-1)[0]"
                    )
                    got = [s for s in sub.seen[n_sub:] if s[1] == want]
                    if ev["state"] != want or not got:
                        print(f"change {i}: not seen as {want} (page {ev['state']})")
                        continue
                    north.append((got[0][0] - t0) * 1000)
                    shown.append(ev["t"] - t0 * 1000)
                    time.sleep(0.05)  # let the orchestrator's coalescing window pass
                browser.close()
            sub.stop()
        finally:
            bg.run(stack.stop(), timeout=60)
    print(f"{len(north)} link state changes at the QFS agent of {NODE} ({link_id})")
    print(f"  northbound subscriber  p50 {pct(north, 50):7.1f} ms  p99 {pct(north, 99):7.1f} ms"
          f"  mean {statistics.mean(north):7.1f} ms")  # fmt: skip
    print(f"  console page (chromium) p50 {pct(shown, 50):7.1f} ms  p99 {pct(shown, 99):7.1f} ms"
          f"  mean {statistics.mean(shown):7.1f} ms")  # fmt: skip
    print(f"  ratio page/northbound  p50 {pct(shown, 50) / pct(north, 50):.2f}x  "
          f"p99 {pct(shown, 99) / pct(north, 99):.2f}x  (goal <= 1.5x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
