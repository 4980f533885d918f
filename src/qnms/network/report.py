"""Human-readable inventory of a network, per stratum, for `qnms demo`."""

from __future__ import annotations

from collections.abc import Iterator

from qnms.network.inventory import Network


def _table(rows: list[list[str]], header: list[str]) -> Iterator[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    yield "  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    for row in rows:
        yield "  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))


def inventory_lines(net: Network) -> Iterator[str]:
    """Lines describing the network: domains, then each stratum's resources."""
    yield f"network {net.name!r} ({net.source})"
    yield f"  {len(net.domains)} domains, {len(net.nodes)} nodes, {len(net.applications)} apps"
    yield ""
    yield "Domains"
    yield from _table(
        [
            [d["name"], str(sum(1 for n in net.nodes if _domain(n) == d["name"]))]
            for d in net.domains
        ],
        ["domain", "nodes"],
    )
    yield ""
    yield "Quantum Fabric Stratum: nodes and memories"
    rows = []
    for n in net.nodes:
        qfs = n["quantum-fabric"]
        for m in qfs.get("memories", {}).get("memory", []):
            rows.append(
                [
                    n["name"],
                    _domain(n),
                    net.role(n),
                    m["name"],
                    str(m["size"]),
                    m["raw-fidelity"],
                    f"{m['coherence-time']} s",
                    m.get("efficiency", "1"),
                ]
            )
    yield from _table(
        rows,
        ["node", "domain", "role", "memory", "qubits", "raw-F", "coherence", "efficiency"],
    )
    yield ""
    yield "Quantum Fabric Stratum: quantum links"
    links: dict[str, list[str]] = {}
    for n in net.nodes:
        for lk in n["quantum-fabric"].get("quantum-links", {}).get("quantum-link", []):
            links.setdefault(lk["name"], [lk["name"], n["name"], lk["remote-node"], lk["channel"]])
    yield from _table(sorted(links.values()), ["link", "node", "remote", "channel"])
    yield ""
    yield "Connectivity Stratum: channels"
    rows = []
    for ch in net.channels():
        km = float(ch["length-km"])
        att = float(ch.get("attenuation-db-per-km", "0.2"))
        rows.append(
            [
                ch["name"],
                ch["domain"],
                f"{ch['node-a']} - {ch['node-b']}",
                f"{km:g} km",
                f"{km * att:.1f} dB",
                "inter-domain" if _crosses(net, ch) else "",
            ]
        )
    yield from _table(rows, ["channel", "domain", "ends", "length", "loss", ""])
    yield ""
    yield "Connectivity Stratum: classical-assist channels"
    yield from _table(
        [
            [c["name"], f"{c['node-a']} - {c['node-b']}", f"{c['latency']} ms"]
            for c in net.classical_channels()
        ],
        ["channel", "ends", "latency"],
    )
    yield ""
    yield "Service Stratum: endpoints and applications"
    rows = []
    for app in net.applications:
        types = ", ".join(t.split(":", 1)[-1] for t in app.get("allowed-service-type", []))
        bucket = app.get("token-bucket", {})
        rows.append(
            [
                app["name"],
                app["endpoint"],
                app.get("attached-to", ""),
                types,
                f"{bucket.get('rate', '-')}/s burst {bucket.get('burst', '-')}",
            ]
        )
    yield from _table(rows, ["application", "endpoint", "node", "services", "token bucket"])


def _domain(node: dict) -> str:
    return node["quantum-fabric"]["node"]["domain"]


def _crosses(net: Network, ch: dict) -> bool:
    return _domain(net.node(ch["node-a"])) != _domain(net.node(ch["node-b"]))
