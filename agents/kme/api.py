"""ETSI GS QKD 014 (v1.1.1) key delivery API of a KME, on aiohttp.

Clause 5.1: HTTPS with mutual authentication; the caller's SAE_ID is the identity of
its client certificate (tls.peer_identity). Clause 5.2-5.4, exact v1 paths:

* ``GET  /api/v1/keys/{slave_SAE_ID}/status``                    -> Status (6.1)
* ``GET|POST /api/v1/keys/{slave_SAE_ID}/enc_keys`` (master SAE)  -> Key container (6.3)
* ``GET|POST /api/v1/keys/{master_SAE_ID}/dec_keys`` (slave SAE)  -> Key container

GET takes ``number``/``size`` (enc_keys) or ``key_ID`` (dec_keys) as query parameters;
POST takes a Key request (6.2) or Key IDs (6.4) as JSON. Errors are the Error object
(6.5) with 400 (bad request), 401 (unauthorized) and 503 (KME cannot serve now); a wrong
method gets 405 with the same body. Key requests pass the caller's application session
token bucket first (seed 4.2): an empty bucket is a 503. The OpenAPI document is at
``/api/v1/openapi.json``; ``/hello`` is a bare route for benchmarking the stack itself.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Callable
from typing import Any

from aiohttp import web

from qnms_agents.kme.kme import Kme, KmeError, b64
from qnms_agents.kme.openapi import openapi
from qnms_agents.kme.tls import peer_identity

log = logging.getLogger(__name__)

# An SAE's key request against its session's token bucket: None when allowed, else the
# session whose bucket is empty (counted and notified by the limiter itself).
Limiter = Callable[[str], str | None]

KME_KEY: web.AppKey[Kme] = web.AppKey("kme", Kme)
LIMITER_KEY: web.AppKey[Limiter] = web.AppKey("limiter", object)  # type: ignore[arg-type]


def error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    return web.json_response(body, status=status)


@web.middleware
async def errors(request: web.Request, handler: Callable) -> web.StreamResponse:
    try:
        return await handler(request)
    except KmeError as err:
        return error(err.status, err.message, err.details)
    except web.HTTPMethodNotAllowed as err:
        return error(
            405, f"method {request.method} not allowed", [{"allowed": sorted(err.allowed_methods)}]
        )
    except web.HTTPNotFound:
        return error(404, f"no such resource {request.path}")


_IDENTITIES: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()


def caller(request: web.Request) -> str:
    """The verified identity of the connection's client certificate (once per connection)."""
    transport = request.transport
    if transport is None:
        raise KmeError(401, "a client certificate is required")
    try:
        ident = _IDENTITIES[transport]
    except KeyError:
        ident = _IDENTITIES[transport] = peer_identity(transport.get_extra_info("peercert"))
    except TypeError:  # a transport without weak references: no cache
        ident = peer_identity(transport.get_extra_info("peercert"))
    if ident is None:
        raise KmeError(401, "a client certificate is required")
    return ident


def container(keys: list[tuple[str, bytes]]) -> web.Response:
    """A Key container (clause 6.3) of keys this KME made: joined as text, no json.dumps
    per request. Safe only because a key ID made here is a UUID and base64 has no
    character JSON escapes; keys named by a request or a peer go through ``json``."""
    items = ",".join(f'{{"key_ID":"{kid}","key":"{b64(k)}"}}' for kid, k in keys)
    return web.json_response(text=f'{{"keys":[{items}]}}')


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise KmeError(400, f"{name} must be an integer")
    try:
        return int(value)
    except ValueError:
        raise KmeError(400, f"{name} must be an integer") from None


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        raise KmeError(400, "malformed JSON") from None
    if not isinstance(body, dict):
        raise KmeError(400, "the request body must be a JSON object")
    return body


class Api:
    """The handlers; the KME owns the rules, this class owns HTTP and ETSI 014 JSON."""

    def __init__(self, kme: Kme, limiter: Limiter | None = None) -> None:
        self.kme = kme
        self.limiter = limiter

    def _sae(self, request: web.Request) -> str:
        sae = caller(request)
        if sae not in self.kme.local_saes:
            raise KmeError(401, f"{sae} is not an SAE of {self.kme.kme_id}")
        return sae

    def _remote(self, sae: str, role: str) -> str:
        kme = self.kme.directory.get(sae)
        if kme is None:
            raise KmeError(400, f"unknown {role} SAE {sae}")
        return kme

    def _limit(self, sae: str) -> None:
        if self.limiter is not None and (session := self.limiter(sae)) is not None:
            raise KmeError(503, f"token bucket of session {session} exhausted: retry later")

    async def status(self, request: web.Request) -> web.Response:
        master = self._sae(request)
        slave = request.match_info["sae"]
        target = self._remote(slave, "slave")
        lim = self.kme.limits
        hop_pool = self.kme.pools.get(self.kme.routes().get(target, target))
        store = self.kme.stores.get(target)
        return web.json_response(
            {
                "source_KME_ID": self.kme.kme_id,
                "target_KME_ID": target,
                "master_SAE_ID": master,
                "slave_SAE_ID": slave,
                "key_size": lim.key_size,
                "stored_key_count": self.kme.stored_key_count(target, lim.key_size),
                "max_key_count": lim.max_key_count,
                "max_key_per_request": lim.max_key_per_request,
                "max_key_size": lim.max_key_size,
                "min_key_size": lim.min_key_size,
                "max_SAE_ID_count": lim.max_SAE_ID_count,
                "status_extension": {
                    "qnms_first_hop": hop_pool.peer if hop_pool else None,
                    "qnms_first_hop_qber": round(hop_pool.qber, 6) if hop_pool else None,
                    "qnms_first_hop_producing": hop_pool.producing if hop_pool else False,
                    "qnms_stored_bytes": store.mine.available() if store else 0,
                },
            }
        )

    async def enc_keys(self, request: web.Request) -> web.Response:
        master = self._sae(request)
        slave = request.match_info["sae"]
        lim = self.kme.limits
        if request.method == "POST":
            body = await _json(request)
            number = _int(body.get("number", 1), "number")
            size = _int(body.get("size", lim.key_size), "size")
            extra = body.get("additional_slave_SAE_IDs", [])
            if not isinstance(extra, list) or not all(isinstance(s, str) for s in extra):
                raise KmeError(400, "additional_slave_SAE_IDs must be a list of SAE IDs")
            if body.get("extension_mandatory"):
                raise KmeError(
                    400,
                    "no mandatory extension is supported",
                    [{"extension_mandatory": body["extension_mandatory"]}],
                )
        else:
            number = _int(request.query.get("number", "1"), "number")
            size = _int(request.query.get("size", str(lim.key_size)), "size")
            extra = []
        if not 1 <= number <= lim.max_key_per_request:
            raise KmeError(400, f"number must be within 1..{lim.max_key_per_request}")
        if size % 8 or not lim.min_key_size <= size <= lim.max_key_size:
            raise KmeError(
                400, f"size must be a multiple of 8 within {lim.min_key_size}..{lim.max_key_size}"
            )
        slaves = [slave, *extra]
        if len(slaves) > lim.max_SAE_ID_count:
            raise KmeError(400, f"at most {lim.max_SAE_ID_count} SAE IDs per request")
        kmes = {self._remote(s, "slave") for s in slaves}
        if len(kmes) != 1:
            raise KmeError(400, "all slave SAEs must be attached to one KME")
        self._limit(master)
        return container(self.kme.enc_keys(master, slaves, number, size))

    async def dec_keys(self, request: web.Request) -> web.Response:
        slave = self._sae(request)
        master = request.match_info["sae"]
        self._remote(master, "master")
        if request.method == "POST":
            body = await _json(request)
            items = body.get("key_IDs")
            if not isinstance(items, list) or not items:
                raise KmeError(400, "key_IDs must be a non-empty list")
            try:
                ids = [str(item["key_ID"]) for item in items]
            except (TypeError, KeyError):
                raise KmeError(400, "each key_IDs item needs a key_ID") from None
        else:
            if "key_ID" not in request.query:
                raise KmeError(400, "key_ID is required")
            ids = request.query.getall("key_ID")
        if len(ids) > self.kme.limits.max_key_per_request:
            raise KmeError(400, f"at most {self.kme.limits.max_key_per_request} key_IDs")
        self._limit(slave)
        keys = await self.kme.dec_keys(slave, master, ids)
        return web.json_response({"keys": [{"key_ID": kid, "key": b64(k)} for kid, k in keys]})

    # -- KME to KME ----------------------------------------------------------------------

    def _peer(self, request: web.Request) -> str:
        peer = caller(request)
        known = self.kme.known_kmes
        if peer not in self.kme.pools and peer not in known | set(self.kme.directory.values()):
            raise KmeError(401, f"{peer} is not a known KME")
        return peer

    async def batch(self, request: web.Request) -> web.Response:
        peer = self._peer(request)
        msg = await _json(request)
        if msg.get("from") != peer:
            raise KmeError(401, "a batch comes from the KME that sends it")
        self.kme.take_batch(msg)
        return web.json_response({"ok": True})

    async def relay(self, request: web.Request) -> web.Response:
        peer = self._peer(request)
        msg = await _json(request)
        if msg.get("from") != peer:
            raise KmeError(401, "a relay hop comes from the KME that sends it")
        return web.json_response(await self.kme.relay(msg))

    async def assign(self, request: web.Request) -> web.Response:
        peer = self._peer(request)
        msg = await _json(request)
        if msg.get("origin") != peer:
            raise KmeError(401, "assignments come from the master's KME")
        return web.json_response({"assigned": self.kme.take_assignments(msg)})

    async def flush(self, request: web.Request) -> web.Response:
        """A slave's KME waits for a key this KME gave out: send its assignments now."""
        peer = self._peer(request)
        msg = await _json(request)
        if msg.get("from") != peer:
            raise KmeError(401, "a flush request comes from the KME that sends it")
        return web.json_response({"queued": self.kme.flush_now(peer)})

    async def commit(self, request: web.Request) -> web.Response:
        self._peer(request)
        return web.json_response(await self.kme.settle(await _json(request)))

    async def ready(self, request: web.Request) -> web.Response:
        self._peer(request)
        return web.json_response(await self.kme.route_ready(await _json(request)))

    async def openapi(self, _request: web.Request) -> web.Response:
        return web.json_response(openapi())

    async def hello(self, _request: web.Request) -> web.Response:
        return web.json_response({"hello": self.kme.kme_id})


def make_app(kme: Kme, limiter: Limiter | None = None) -> web.Application:
    api = Api(kme, limiter)
    app = web.Application(middlewares=[errors], client_max_size=1 << 20)
    r = app.router
    r.add_get("/api/v1/keys/{sae}/status", api.status)
    r.add_route("GET", "/api/v1/keys/{sae}/enc_keys", api.enc_keys)
    r.add_route("POST", "/api/v1/keys/{sae}/enc_keys", api.enc_keys)
    r.add_route("GET", "/api/v1/keys/{sae}/dec_keys", api.dec_keys)
    r.add_route("POST", "/api/v1/keys/{sae}/dec_keys", api.dec_keys)
    r.add_get("/api/v1/openapi.json", api.openapi)
    r.add_get("/hello", api.hello)
    r.add_post("/kme/v1/batch", api.batch)
    r.add_post("/kme/v1/relay", api.relay)
    r.add_post("/kme/v1/commit", api.commit)
    r.add_post("/kme/v1/ready", api.ready)
    r.add_post("/kme/v1/assign", api.assign)
    r.add_post("/kme/v1/flush", api.flush)
    return app
