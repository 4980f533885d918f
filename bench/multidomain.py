"""Multi-domain overhead: an inter-domain unit through the parent (MDSC) against the
same unit through a single orchestrator, measured in the same run.

For each layout (``qnms up`` and ``qnms up --multi-domain`` on the default network,
one after the other, same twin speed and seed), ``--n`` units from madqci-alice to
quditto-dave are requested one at a time with one northbound edit-config each, and
timed from the edit to ``establishing`` (every agent committed: for the parent, both
segments allocated and stitched) and to ``active`` (``size`` pairs delivered at both
ends, within target); then each unit is deleted and the next waits until nothing is
left. It prints the medians per layout and the parent/single ratios. No goal is set by
the issue; the ratio is the cost of the extra NETCONF hops and of asking the tail
segment before the head.

    .venv/bin/python bench/multidomain.py [--n 5] [--size 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from qnms.app import northbound as nb
from qnms.app.background import BackgroundLoop
from qnms.app.stack import Stack, StackOptions
from qnms.network.inventory import load_network

ALICE, SENSING = "urn:qkd:madqci:ccips", "urn:qkd:quditto:sensing"


def run_layout(multi: bool, n: int, size: int, root: Path) -> tuple[list[float], list[float]]:
    options = StackOptions(
        network=load_network(),
        state_dir=root / ("multi" if multi else "single"),
        multi_domain=multi,
    )
    to_establishing: list[float] = []
    to_active: list[float] = []
    with BackgroundLoop() as bg:
        stack = Stack(options)
        bg.run(stack.start(), timeout=300)
        try:
            login = nb.Login(options.host, stack.port, options.user, options.password)
            with nb.connect(login) as m:
                for i in range(n):
                    name = f"bench-{i}"
                    unit = nb.UnitRequest(
                        name,
                        ALICE,
                        (ALICE, SENSING),
                        size,
                        int(time.time()) + 3600,
                        target_fidelity=0.7,
                    )
                    t0 = time.monotonic()
                    nb.request_unit(m, unit)
                    seen = nb.wait_for(
                        m, [name], timeout=120, states=("establishing", *nb.TERMINAL), interval=0.02
                    )
                    t1 = time.monotonic()
                    final = nb.wait_for(m, [name], timeout=240, interval=0.02)
                    t2 = time.monotonic()
                    state = final[name].state if name in final else "?"
                    if state != "active":
                        reason = final[name].failure_reason if name in final else ""
                        sys.exit(f"{name}: {state} {reason} ({'multi' if multi else 'single'})")
                    if seen[name].state == "establishing":
                        to_establishing.append(t1 - t0)
                    to_active.append(t2 - t0)
                    nb.delete_unit(m, name)
                    deadline = time.monotonic() + 60
                    while nb.read_units(m, name) and time.monotonic() < deadline:
                        time.sleep(0.1)
                    time.sleep(1.0)  # segments and agents released
        finally:
            bg.run(stack.stop(), timeout=120)
    return to_establishing, to_active


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5, help="units per layout (5)")
    parser.add_argument("--size", type=int, default=5, help="pairs per unit (5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        single = run_layout(False, args.n, args.size, Path(tmp))
        multi = run_layout(True, args.n, args.size, Path(tmp))
    print(f"{args.n} inter-domain units (madqci-alice to quditto-dave), size {args.size}")
    print(f"{'layout':<22} {'to establishing (ms)':>21} {'to active (ms)':>15}")
    med = {}
    for label, (est, act) in (("single orchestrator", single), ("parent + 2 domains", multi)):
        med[label] = (statistics.median(est) * 1000, statistics.median(act) * 1000)
        print(f"{label:<22} {med[label][0]:>21.0f} {med[label][1]:>15.0f}")
    s, p = med["single orchestrator"], med["parent + 2 domains"]
    print(f"ratio parent/single: establishing {p[0] / s[0]:.2f}x, active {p[1] / s[1]:.2f}x")


if __name__ == "__main__":
    main()
