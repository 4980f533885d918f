"""A KME on the network: its HTTPS listener (ETSI 014 + KME-to-KME) and its peer client.

The server runs on the caller's asyncio loop (the agents' loop when attached to an SS
agent): aiohttp's AppRunner/TCPSite with a mutual-TLS context; the peer client is one
aiohttp ClientSession with this KME's certificate (keep-alive connections to peers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from qnms_agents.kme.api import Limiter, make_app
from qnms_agents.kme.kme import Kme, KmeError
from qnms_agents.kme.tls import client_context, server_context


@dataclass
class Credentials:
    """CA, certificate and key files of one identity (as `qnms pki` writes them)."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def from_dir(cls, pki: Path, ident: str) -> Credentials:
        return cls(pki / "ca.pem", pki / f"{ident}.pem", pki / f"{ident}.key")


class KmeServer:
    """Serve one KME over HTTPS on ``host:port`` (0: a free port) until stopped."""

    def __init__(
        self,
        kme: Kme,
        creds: Credentials,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        peers: dict[str, str] | None = None,  # KME id -> base URL (https://host:port)
        limiter: Limiter | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.kme = kme
        self.creds = creds
        self.host = host
        self.port = port
        self.peers = peers if peers is not None else {}
        self.app = make_app(kme, limiter)
        self.timeout = timeout
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ticker: asyncio.Task[None] | None = None
        kme.send = self.send

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    async def start(self) -> None:
        ctx = server_context(self.creds.ca, self.creds.cert, self.creds.key)
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=ctx)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]  # (host, port) of the bound socket
        if self.kme.auto_fill:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self, period: float = 1.0) -> None:
        """Retry store top-ups now and then (after failed relays, or idle links)."""
        while True:
            await asyncio.sleep(period)
            try:
                await self.kme.fill_stores()
            except Exception as err:  # keep ticking; the relay logs its own failures
                logging.getLogger(__name__).warning("store top-up failed: %s", err)

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.kme.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def send(self, peer: str, path: str, msg: dict[str, Any]) -> dict[str, Any]:
        """POST ``msg`` to a peer KME; KmeError(503) with the peer's message on failure."""
        base = self.peers.get(peer)
        if base is None:
            raise KmeError(503, f"{self.kme.kme_id} has no address for KME {peer}")
        if self._session is None:
            ctx = client_context(self.creds.ca, self.creds.cert, self.creds.key)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ctx, limit=64),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                cookie_jar=aiohttp.DummyCookieJar(),  # KMEs set no cookies: skip the jar
            )
        try:
            async with self._session.post(base + path, json=msg) as resp:
                body = await resp.json(content_type=None)
                if resp.status != 200:
                    raise KmeError(503, str(body.get("message", f"{peer}: HTTP {resp.status}")))
                return body
        except (TimeoutError, aiohttp.ClientError, ValueError) as err:
            raise KmeError(503, f"KME {peer} unreachable: {type(err).__name__}") from err
