"""A chain of KMEs on 127.0.0.1 with real mutual TLS, and SAE clients for them.

kme-a - kme-b - kme-c - kme-d - kme-e (links between neighbours); SAEs: sae-a at kme-a,
sae-b1/sae-b2 at kme-b, sae-e at kme-e. Routes follow the chain both ways, so a key
from kme-a to kme-e crosses three trusted nodes.
"""

from __future__ import annotations

import contextlib
import itertools
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from qnms.app.pki import make_pki
from qnms_agents.kme.api import Limiter
from qnms_agents.kme.kme import Kme, KmeLimits
from qnms_agents.kme.server import Credentials, KmeServer
from qnms_agents.kme.tls import client_context

CHAIN = ["kme-a", "kme-b", "kme-c", "kme-d", "kme-e"]
SAES = {"sae-a": "kme-a", "sae-b1": "kme-b", "sae-b2": "kme-b", "sae-e": "kme-e"}


def make_test_pki(out: Path) -> Path:
    make_pki(out, CHAIN, [*SAES, "sae-stranger"])
    make_pki(out / "rogue", [], ["sae-a"])  # same name, another CA
    return out


def chain_routes(me: str) -> dict[str, str]:
    i = CHAIN.index(me)
    out = {}
    for j, dest in enumerate(CHAIN):
        if j != i:
            out[dest] = CHAIN[i + 1] if j > i else CHAIN[i - 1]
    return out


class Chain:
    def __init__(
        self,
        pki: Path,
        limits: KmeLimits | None = None,
        limiters: dict[str, Limiter] | None = None,
        auto_fill: bool = True,
    ) -> None:
        self.pki = pki
        self.servers: dict[str, KmeServer] = {}
        peers: dict[str, str] = {}
        for i, kid in enumerate(CHAIN):
            routes = chain_routes(kid)
            kme = Kme(
                kid,
                limits=limits
                or KmeLimits(max_key_count=64, batch_bytes=64, chunk_bytes=64, store_bytes=256),
                local_saes={s for s, k in SAES.items() if k == kid},
                directory=dict(SAES),
                routes=lambda r=routes: r,
                auto_fill=auto_fill,
            )
            for j in (i - 1, i + 1):
                if 0 <= j < len(CHAIN):
                    kme.add_link(CHAIN[j])
            self.servers[kid] = KmeServer(
                kme,
                Credentials.from_dir(pki, kid),
                peers=peers,
                limiter=(limiters or {}).get(kid),
            )

    def kme(self, kid: str) -> Kme:
        return self.servers[kid].kme

    def url(self, kid: str) -> str:
        return self.servers[kid].url

    async def __aenter__(self) -> Chain:
        for kid, s in self.servers.items():
            await s.start()
            s.peers[kid] = s.url  # shared dict: every server sees every address
        return self

    async def __aexit__(self, *exc: object) -> None:
        for s in self.servers.values():
            await s.stop()

    async def fill(self, a: str, b: str, pairs: int = 8000, fidelity: float = 0.99) -> None:
        """Deliver pairs on link a-b (to its generator), as the twin would, and let every
        KME top up its end-to-end stores."""
        gen, other = sorted((a, b))
        await self.kme(gen).pairs_delivered(other, fidelity, pairs)
        if self.kme(gen).auto_fill:
            await self.fill_stores()

    async def fill_stores(self) -> None:
        for s in self.servers.values():
            await s.kme.fill_stores()

    async def fill_chain(self, pairs: int = 60000) -> None:
        """Every link, the far end first: relays find material downstream."""
        for a, b in reversed(list(itertools.pairwise(CHAIN))):
            await self.fill(a, b, pairs)


@contextlib.asynccontextmanager
async def sae_client(
    pki: Path, sae: str | None, ca: Path | None = None
) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTPS client presenting SAE ``sae``'s certificate (none when None)."""
    if sae is None:
        ctx: ssl.SSLContext = client_context(pki / "ca.pem")
    else:
        base = ca or pki
        ctx = client_context(pki / "ca.pem", base / f"{sae}.pem", base / f"{sae}.key")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s:
        yield s


async def call(s: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with s.request(method, url, **kw) as r:
        return r.status, await r.json(content_type=None)
