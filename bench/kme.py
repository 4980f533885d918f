"""KME speed and key yield: ETSI GS QKD 014 enc_keys over mutual TLS, and key vs physics.

1. Requests per second of ``GET /api/v1/keys/{slave}/enc_keys`` (one 256-bit key) from
   10 concurrent SAEs, each with its own client certificate and keep-alive connection,
   against the bare ``GET /hello`` route of the same server in the same run: the ratio
   is the share of the HTTP+TLS stack's ceiling the KME keeps (goal >= 0.8). p50/p99
   latencies for both; the two loads alternate in short rounds over the same (already
   open) connections so both see the same (shared) machine: the ratio over the whole
   run, and the median of the rounds' ratios (each round's two loads are next to each
   other in time: robust to the other load on a shared machine), and the server's CPU
   time per request when /proc has it. Keys come from the end-to-end store filled ahead
   of demand; the slave's KME (same process) is told the assignments in batched
   KME-to-KME messages meanwhile, whose cost is inside the enc_keys figure: the run
   checks the slave's KME heard of every key the master's handed out.
2. Secret key rate: a link delivering ``--pair-rate`` pairs/s with fidelities spread
   over [0.95, 0.99] (aged pairs) for ``--seconds`` of emulated time is fed to the KMEs
   as the twin's pair-delivered results; the SAEs on both ends then drain every key.
   The key bits the applications got per second, against the rate the physics allows
   (sum of 1/2 r(QBER(F)) over the pairs, qnms.service.qkd): the ratio (goal within 5%).
   The same over two trusted nodes (the demo's shape: kme-a - kme-r1 - kme-r2 - kme-d,
   hops at the demo's relative pair rates, one-time-pad relay): against the slowest
   hop's rate, which bounds what relay can deliver.

3. ``--twin SECONDS``: the key the demo's paths would make, from the twin itself
   (``qnms qndt run --json``, per-pair fidelities, no purification): pairs/s, mean F,
   QBER and the secret key rate qnms.service.qkd gives for those exact pairs.

The KMEs run in a child process (their own GIL; ``kme_servers.py``), clients in this one.

    .venv/bin/python bench/kme.py [--seconds-load 6] [--pair-rate 2000] [--seconds 20]
    .venv/bin/python bench/kme.py --twin 0.5    # adds the twin's paths (~10 s each)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from kme_servers import RELAY, SAES, serve

from qnms.app.pki import make_pki
from qnms.qndt import topologies
from qnms.service.qkd import qber_werner, secret_bits_per_pair
from qnms_agents.kme.tls import client_context

ROUNDS = 10
FAST = {"max_key_count": 200_000, "batch_bytes": 4096, "chunk_bytes": 4096}
EXACT = {"max_key_count": 200_000, "batch_bytes": 32, "chunk_bytes": 32}
TWIN = {"max_key_count": 200_000, "batch_bytes": 8, "chunk_bytes": 8}
RELAY_SHARES = (1.0, 0.66, 1.5)  # the demo's hops: pairs/s relative to the first


async def fetch(s: aiohttp.ClientSession, url: str) -> None:
    async with s.get(url) as r:
        await r.read()
        if r.status != 200:
            raise SystemExit(f"{url}: HTTP {r.status} {await r.text()}")


async def load(sessions: list[aiohttp.ClientSession], url: str, seconds: float) -> list[float]:
    """The SAEs' sessions hammering ``url`` for ``seconds``: the latencies (s)."""
    lat: list[float] = []
    end = time.perf_counter() + seconds

    async def one(s: aiohttp.ClientSession) -> None:
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            await fetch(s, url)
            lat.append(time.perf_counter() - t0)

    await asyncio.gather(*(one(s) for s in sessions))
    return lat


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput(
    pki: Path, urls: dict[str, str], seconds: float, pid: int
) -> dict[str, tuple[list[float], list[int], float | None]]:
    """Alternate the loads on ``urls`` in ROUNDS rounds over one keep-alive connection
    per SAE (opened and used once before): per URL, latencies, requests per round and
    the server's CPU seconds."""
    out: dict[str, tuple[list[float], list[int], float | None]] = {u: ([], [], 0.0) for u in urls}
    async with contextlib.AsyncExitStack() as stack:
        sessions = []
        for sae in SAES:
            ctx = client_context(pki / "ca.pem", pki / f"{sae}.pem", pki / f"{sae}.key")
            conn = aiohttp.TCPConnector(ssl=ctx, limit=1)
            sessions.append(await stack.enter_async_context(aiohttp.ClientSession(connector=conn)))
        for url in urls.values():
            await asyncio.gather(*(fetch(s, url) for s in sessions))
        for _ in range(ROUNDS):
            for name, url in urls.items():
                lat, rounds, cpu = out[name]
                c0 = cpu_seconds(pid)
                got = await load(sessions, url, seconds / ROUNDS)
                c1 = cpu_seconds(pid)
                used = None if cpu is None or c0 is None or c1 is None else cpu + c1 - c0
                lat += got
                rounds.append(len(got))
                out[name] = (lat, rounds, used)
    return out


async def drain(
    pki: Path,
    peers: dict[str, str],
    size: int = 256,
    ends: tuple[tuple[str, str, str], ...] = (
        ("sae-0", "kme-a", "sae-b"),
        ("sae-b", "kme-b", "sae-0"),
    ),
) -> int:
    """Every key the masters can get (``size``-bit keys, 128 per request): bits delivered."""
    bits = 0
    for master, kme, slave in ends:
        ctx = client_context(pki / "ca.pem", pki / f"{master}.pem", pki / f"{master}.key")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s:
            for number in (128, 1):
                while True:
                    url = f"{peers[kme]}/api/v1/keys/{slave}/enc_keys?number={number}&size={size}"
                    async with s.get(url) as r:
                        if r.status != 200:
                            break
                        bits += size * len((await r.json())["keys"])
    return bits


def child(pki: Path, job: dict) -> tuple[subprocess.Popen, dict[str, str]]:
    args = [sys.executable, __file__, "--child", str(pki)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin and proc.stdout
    proc.stdin.write(json.dumps(job) + "\n")
    proc.stdin.flush()
    return proc, json.loads(proc.stdout.readline())


def stop(proc: subprocess.Popen) -> dict:
    """End the child; what it said last (part 1: what the slave's KME was told)."""
    assert proc.stdin and proc.stdout
    proc.stdin.close()
    last = proc.stdout.read().strip()
    proc.wait(timeout=10)
    return json.loads(last) if last else {}


TWIN_PATHS = [
    ("madqci-alice", "madqci-bob"),
    ("quditto-charlie", "quditto-dave"),
    ("madqci-alice", "quditto-charlie"),
]


def twin_pairs(seconds: float, src: str, dst: str, network: Path | None = None) -> dict:
    """One allocation run in the twin (``qnms qndt run --json``): its report."""
    cmd = [sys.executable, "-m", "qnms.app.cli", "qndt", "run", "--duration", str(seconds)]
    cmd += ["--request", f"{src},{dst},0,0.5", "--json"]
    cmd += ["--network", str(network)] if network else []
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True)
    return json.loads(out.stdout)["requests"][0]


def twin_rates(pki: Path, seconds: float) -> None:
    """The key the twin's pairs allow on the demo's paths, and, on a direct 10 km link,
    the key the applications actually get from the KMEs fed with the twin's pairs."""
    print(f"key the twin's pairs allow ({seconds} s simulated, no purification):")
    for src, dst in TWIN_PATHS:
        req = twin_pairs(seconds, src, dst)
        fids = req.get("fidelities", [])
        rate = sum(secret_bits_per_pair(f) for f in fids) / seconds
        mean_f = statistics.fmean(fids) if fids else 0.0
        print(
            f"  {src} -> {dst} ({len(req['path']) - 2} swaps): "
            f"{len(fids) / seconds:7.1f} pairs/s, mean F {mean_f:.4f}, "
            f"QBER {qber_werner(mean_f):.4f}, secret key {rate:7.1f} bit/s"
        )
    net = pki / "direct.json"
    net.write_text(json.dumps(topologies.chain(2, km=10.0, raw=0.97)))
    req = twin_pairs(seconds, "alice", "bob", net)
    fids = req.get("fidelities", [])
    allowed = sum(secret_bits_per_pair(f) for f in fids) / seconds
    proc, peers = child(pki, {"limits": TWIN, "pairs": fids})
    try:
        got = asyncio.run(drain(pki, peers, size=64)) / seconds
    finally:
        stop(proc)
    print(
        f"  direct 10 km link, raw F 0.97: {len(fids) / seconds:.0f} pairs/s, physics "
        f"{allowed:.1f} bit/s, applications got {got:.1f} bit/s (64-bit keys), "
        f"ratio {got / allowed if allowed else 0:.3f}"
    )


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds-load", type=float, default=5.0)
    ap.add_argument("--pair-rate", type=float, default=2000.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--twin", type=float, metavar="SECONDS", help="also run the twin's paths")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        asyncio.run(serve(args.child, json.loads(sys.stdin.readline())))
        return
    with tempfile.TemporaryDirectory() as tmp:
        pki = Path(tmp)
        make_pki(pki, ["kme-a", "kme-b", *RELAY[1:]], [*SAES, "sae-b", "sae-d"])

        # 1. throughput: plenty of material (F = 1: one secret bit per two pairs)
        proc, peers = child(pki, {"limits": FAST, "bulk": [1.0, 64_000_000]})
        enc_url = f"{peers['kme-a']}/api/v1/keys/sae-b/enc_keys?number=1&size=256"
        urls = {"hello": f"{peers['kme-a']}/hello", "enc": enc_url}
        try:  # alternate, so both see the same machine (2 cores shared)
            got = asyncio.run(throughput(pki, urls, args.seconds_load, proc.pid))
        finally:
            told = stop(proc)
        (hello, h_rounds, h_cpu), (enc, e_rounds, e_cpu) = got["hello"], got["enc"]
        r_hello, r_enc = len(hello) / args.seconds_load, len(enc) / args.seconds_load
        print("ETSI 014 over mutual TLS, 10 concurrent SAEs, one server process")
        print(
            f"  /hello    {r_hello:8.0f} req/s  p50 {pct(hello, 0.5):6.2f} ms  "
            f"p99 {pct(hello, 0.99):6.2f} ms"
        )
        print(
            f"  enc_keys  {r_enc:8.0f} req/s  p50 {pct(enc, 0.5):6.2f} ms  "
            f"p99 {pct(enc, 0.99):6.2f} ms"
        )
        per_round = statistics.median(e / h for e, h in zip(e_rounds, h_rounds, strict=True))
        print(
            f"  ratio enc_keys / hello: {r_enc / r_hello:.2f} over the run, "
            f"{per_round:.2f} median of {ROUNDS} rounds (goal >= 0.8)"
        )
        if h_cpu and e_cpu:
            h_us, e_us = 1e6 * h_cpu / len(hello), 1e6 * e_cpu / len(enc)
            print(
                f"  server CPU per request: /hello {h_us:.0f} us, enc_keys {e_us:.0f} us "
                f"(ratio {h_us / e_us:.2f})"
            )
        handed = len(enc) + len(SAES)  # and one each while the connections opened
        print(
            f"  slave's KME told of {told.get('assigned')} of the {handed} keys handed out, "
            f"in {told.get('messages')} KME-to-KME messages"
        )

        # 2. key yield against the physics
        rng = random.Random(7)
        n = int(args.pair_rate * args.seconds)
        fids = [rng.uniform(0.95, 0.99) for _ in range(n)]
        allowed = sum(secret_bits_per_pair(f) for f in fids) / args.seconds
        proc, peers = child(pki, {"limits": EXACT, "pairs": fids})
        try:
            got = asyncio.run(drain(pki, peers)) / args.seconds
        finally:
            stop(proc)
        print(f"secret key rate, {args.pair_rate:.0f} pairs/s, F in [0.95, 0.99]:")
        print(
            f"  physics {allowed:9.1f} bit/s, applications got {got:9.1f} bit/s, "
            f"ratio {got / allowed:.3f} (goal >= 0.95)"
        )
        mean_f = statistics.fmean(fids)
        print(
            f"  (mean F {mean_f:.4f}; rate at mean F would be "
            f"{args.pair_rate * secret_bits_per_pair(mean_f):.1f} bit/s)"
        )

        # 3. the same over two trusted nodes (one-time-pad relay): the slowest hop bounds it
        links = [
            [rng.uniform(0.93, 0.96) for _ in range(int(args.pair_rate * share * args.seconds))]
            for share in RELAY_SHARES
        ]
        allowed = min(sum(secret_bits_per_pair(f) for f in fs) for fs in links) / args.seconds
        proc, peers = child(pki, {"limits": EXACT, "links": links})
        try:
            ends = (("sae-0", "kme-a", "sae-d"),)
            got = asyncio.run(drain(pki, peers, ends=ends)) / args.seconds
        finally:
            stop(proc)
        print(f"secret key rate over 2 trusted nodes (hops at {RELAY_SHARES} x pairs/s):")
        print(
            f"  physics (slowest hop) {allowed:9.1f} bit/s, application got {got:9.1f} bit/s, "
            f"ratio {got / allowed:.3f} (goal >= 0.95)"
        )

        if args.twin:
            twin_rates(pki, args.twin)


if __name__ == "__main__":
    main()
