"""The console's web server: a Starlette app served by uvicorn inside the running loop.

The console is a front end of the northbound, like the CLI: everything it shows comes
from the user's own NETCONF session (``sessions.py``, ``feed.py``) and everything it
does is a NETCONF edit-config on that session. The one exception is fault injection,
an experimenter's action on the twin, not a management operation: the composition
root hands the console a callable that sends a fault to the twin's bus, and only
operators (the northbound's NACM group ``admin``) may use it.

HTTP API (all JSON; data documents are RFC 7951, ``application/yang-data+json``):
``POST /api/login`` ``{user, password}`` (sets the session cookie), ``POST /api/logout``,
``GET /api/me``, ``GET /api/data/service-units[/{name}]``, ``GET /api/data/networks``,
``GET /api/data/applications``,
``POST /api/service-units`` (the create form), ``DELETE /api/service-units/{name}``,
``POST /api/faults`` ``{fault, channel}`` and ``GET /api/events`` (server-sent events:
``units`` and ``networks`` carry the whole RFC 7951 document after each change,
``notification`` a state change). Errors: 400 with the field or the rpc-error, 401
without a login, 403 for a non-operator's fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from ncclient.operations import RPCError
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from qnms.app.console.actions import (
    FAULTS,
    FormError,
    create_unit,
    rpc_error_json,
    unit_from_form,
)
from qnms.app.console.feed import NWS, Message
from qnms.app.console.sessions import COOKIE, LoginError, Sessions, UserSession
from qnms.app.northbound import SVC, delete_unit
from qnms.yang.catalog import IETF_DIR, YANG_DIR, module_file
from qnms.yang.codec import xml_to_json
from qnms.yang.schema import Schema
from qnms.yang.schema_cache import cached_schema

STATIC = Path(__file__).with_name("static")
YANG_JSON = "application/yang-data+json"
# the modules whose data the console shows (and encodes as RFC 7951)
MODULES = ("qnms-service", "ietf-network-state", "ietf-network-topology-state", "qnms-topology")
FaultSender = Callable[[dict[str, Any]], dict[str, Any]]  # blocking: run in a thread


@dataclass(frozen=True)
class ConsoleConfig:
    """Which northbound the console fronts, where it listens, who may inject faults."""

    northbound_host: str
    northbound_port: int
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (read Console.port after start)
    operators: frozenset[str] = frozenset()  # users of the northbound's NACM group admin
    fault: FaultSender | None = None  # sends a fault request to the twin's bus
    timeout: float = 15.0  # seconds per NETCONF exchange


def console_schema() -> Schema:
    """The schema of what the console shows (the topology modules where installed)."""
    files = [module_file(m) for m in MODULES]
    return cached_schema([f for f in files if f.exists()], search_dirs=[YANG_DIR, IETF_DIR])


def _problem(status: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status)


class _Server(uvicorn.Server):
    """uvicorn inside a loop it does not own: the caller handles the signals."""

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        return None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # uvicorn >= 0.29
        yield


class Console:
    """The web console of one northbound, started as a task in the running loop."""

    def __init__(self, config: ConsoleConfig) -> None:
        self.config = config
        self.port = config.port
        self.sessions: Sessions | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}/"

    async def start(self) -> None:
        c = self.config
        schema = await asyncio.to_thread(console_schema)
        self.sessions = Sessions(
            c.northbound_host, c.northbound_port, schema, c.operators, c.timeout
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((c.host, c.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app(schema), log_level="warning", lifespan="off", access_log=False
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.sessions is not None:
            await self.sessions.close_all()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(self._task, 10)
            except TimeoutError:
                self._server.force_exit = True
                await asyncio.wait_for(self._task, 5)
        self._server = self._task = None

    # -- the app -----------------------------------------------------------------------

    def app(self, schema: Schema) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.index),
                Route("/api/login", self.login, methods=["POST"]),
                Route("/api/logout", self.logout, methods=["POST"]),
                Route("/api/me", self.me),
                Route("/api/data/service-units", self.units_data),
                Route("/api/data/service-units/{name}", self.units_data),
                Route("/api/data/networks", self.networks_data),
                Route("/api/data/applications", self.applications_data),
                Route("/api/service-units", self.post_unit, methods=["POST"]),
                Route("/api/service-units/{name}", self.remove_unit, methods=["DELETE"]),
                Route("/api/faults", self.fault, methods=["POST"]),
                Route("/api/events", self.events),
                Mount("/static", StaticFiles(directory=STATIC), name="static"),
            ]
        )

    def _user(self, request: Request) -> UserSession | None:
        assert self.sessions is not None
        return self.sessions.lookup(request.cookies.get(COOKIE))

    async def index(self, _request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def login(self, request: Request) -> Response:
        assert self.sessions is not None
        body = await _body(request)
        user, password = str(body.get("user") or ""), str(body.get("password") or "")
        if not user:
            return _problem(400, error="bad-input", field="user", message="user is required")
        try:
            session = await self.sessions.login(user, password)
        except LoginError as err:
            return _problem(401, error="login-failed", message=str(err))
        resp = JSONResponse(self._me(session))
        resp.set_cookie(
            COOKIE, self.sessions.cookie(session), httponly=True, samesite="strict", path="/"
        )
        return resp

    async def logout(self, request: Request) -> Response:
        assert self.sessions is not None
        session = self._user(request)
        if session is not None:
            await self.sessions.logout(session)
        resp = JSONResponse({"logged-out": True})
        resp.delete_cookie(COOKIE, path="/")
        return resp

    def _me(self, s: UserSession) -> dict[str, Any]:
        return {
            "user": s.user,
            "operator": s.operator,
            "faults": s.operator and self.config.fault is not None,
            "topology": s.feed.topology,
        }

    async def me(self, request: Request) -> Response:
        session = self._user(request)
        if session is None:
            return _problem(401, error="not-logged-in", message="log in first")
        return JSONResponse(self._me(session))

    async def _get(self, request: Request, flt: str) -> Response:
        session = self._user(request)
        if session is None:
            return _problem(401, error="not-logged-in", message="log in first")
        assert self.sessions is not None
        try:
            reply = await asyncio.to_thread(session.manager.get, filter=("subtree", flt))
        except RPCError as err:
            return _problem(400, **rpc_error_json(err))
        data = xml_to_json(reply.data_ele, self.sessions.schema)
        return Response(json.dumps(data), media_type=YANG_JSON)

    async def units_data(self, request: Request) -> Response:
        name = request.path_params.get("name")
        sel = f"<service-unit><name>{_xml_text(name)}</name></service-unit>" if name else ""
        resp = await self._get(request, f'<service-units xmlns="{SVC}">{sel}</service-units>')
        if name and resp.status_code == 200:
            units = json.loads(bytes(resp.body)).get(f"{MODULES[0]}:service-units", {})
            if not units.get("service-unit"):  # absent, or hidden from this user by NACM
                return _problem(404, error="not-found", message=f"no service unit {name!r}")
        return resp

    async def networks_data(self, request: Request) -> Response:
        return await self._get(request, f'<networks xmlns="{NWS}"/>')

    async def applications_data(self, request: Request) -> Response:
        return await self._get(request, f'<applications xmlns="{SVC}"/>')

    async def post_unit(self, request: Request) -> Response:
        session = self._user(request)
        if session is None:
            return _problem(401, error="not-logged-in", message="log in first")
        body = {k: str(v) for k, v in (await _body(request)).items() if v is not None}
        try:
            unit = unit_from_form(body)
        except FormError as err:
            return _problem(400, error="bad-input", field=err.field, message=err.message)
        try:
            await asyncio.to_thread(create_unit, session.manager, unit)
        except RPCError as err:
            return _problem(400, **rpc_error_json(err))
        return JSONResponse({"created": unit.request.name}, status_code=201)

    async def remove_unit(self, request: Request) -> Response:
        session = self._user(request)
        if session is None:
            return _problem(401, error="not-logged-in", message="log in first")
        name = request.path_params["name"]
        try:
            await asyncio.to_thread(delete_unit, session.manager, name)
        except RPCError as err:
            return _problem(400, **rpc_error_json(err))
        return Response(status_code=204)

    async def fault(self, request: Request) -> Response:
        session = self._user(request)
        if session is None:
            return _problem(401, error="not-logged-in", message="log in first")
        if not session.operator:
            return _problem(403, error="access-denied", message="faults are for operators")
        if self.config.fault is None:
            return _problem(503, error="no-twin", message="no twin to inject faults into")
        body = await _body(request)
        fault, channel = str(body.get("fault") or ""), str(body.get("channel") or "")
        if fault not in FAULTS:
            return _problem(400, error="bad-input", field="fault", message=f"one of {FAULTS}")
        if not channel:
            return _problem(400, error="bad-input", field="channel", message="required")
        reply = await asyncio.to_thread(
            self.config.fault, {"type": "fault", "fault": fault, "channel": channel}
        )
        if not reply.get("ok", False):
            err = reply.get("error") or {}
            return _problem(400, error=err.get("code", "refused"), message=err.get("message", ""))
        return JSONResponse({"fault": fault, "channel": channel, "at": reply.get("at")})

    async def events(self, request: Request) -> Response:
        session = self._user(request)
        if session is None:
            return _problem(401, error="not-logged-in", message="log in first")
        feed = session.feed
        queue = feed.listen()

        async def stream() -> AsyncIterator[dict[str, str]]:
            try:
                for event, data in list(feed.picture.items()):  # the picture so far
                    yield {"event": event, "data": data}
                while True:
                    msg: Message = await queue.get()
                    yield {"event": msg.event, "data": msg.data}
                    if msg.event == "closed":
                        return
            finally:
                feed.unlisten(queue)

        return EventSourceResponse(stream(), ping=15)


async def _body(request: Request) -> dict[str, Any]:
    """A JSON object or an HTML form, whichever the client sent."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
