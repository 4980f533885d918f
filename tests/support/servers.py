"""The NETCONF protocol server in a thread, and clients for it (ncclient and raw bytes).

Fixtures ``server_factory`` and ``nc_server`` are registered by tests/netconf/conftest.py.

The server runs on its own event loop in a background thread, exactly as it would
next to blocking clients: ncclient and netconf-console2 are synchronous, and the raw
protocol tests drive an asyncssh client with ``asyncio.run`` in the test thread.
The datastore is the real ``DatastoreManager`` over the example modules of fixtures/,
so these tests also check that the protocol layer and the datastore layer fit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from lxml import etree
from ncclient import manager

from qnms.app.background import BackgroundLoop
from qnms.netconf.datastore.manager import DatastoreManager
from qnms.netconf.protocol.framing import FrameDecoder, encode_message
from qnms.netconf.server import NetconfServer, ServerOptions
from qnms.yang.errors import NC_NS

FIXTURES = Path(__file__).parents[1] / "netconf" / "fixtures"
USER, PASSWORD = "admin", "admin-pw"
EX_NS = "urn:example:net"
Q = f"{{{NC_NS}}}"
OP_ATTR = Q + "operation"


def make_datastores() -> DatastoreManager:
    """The datastore layer's manager over the example modules, in memory."""
    return DatastoreManager.for_tests(FIXTURES)


# -- the server in a thread -------------------------------------------------------------


class ServerThread(BackgroundLoop):
    """A NetconfServer on a private event loop; ``call`` runs code on that loop."""

    def __init__(self, server: NetconfServer) -> None:
        super().__init__()
        self.server = server
        self.run(server.start())
        self.port = server.port

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        try:
            self.run(self.server.stop())
        finally:
            self.close()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerThread]]:
    started: list[ServerThread] = []

    def make(datastores: Any = None, **opts: Any) -> ServerThread:
        options = ServerOptions(
            host="127.0.0.1",
            port=0,
            state_dir=tmp_path / "state",
            users={USER: PASSWORD, "oper": "oper-pw"},
            # the protocol tests edit as "oper" too; NACM tests configure their own
            nacm_groups={"admin": [USER, "oper"]},
        )
        for k, v in opts.items():
            setattr(options, k, v)
        st = ServerThread(NetconfServer(datastores or make_datastores(), options=options))
        started.append(st)
        return st

    yield make
    for st in started:
        st.stop()


@pytest.fixture
def nc_server(server_factory: Callable[..., ServerThread]) -> ServerThread:
    return server_factory()


def connect(port: int, user: str = USER, password: str = PASSWORD, **kw: Any) -> Any:
    """An ncclient manager to the test server."""
    return manager.connect(
        host="127.0.0.1",
        port=port,
        username=user,
        password=password,
        hostkey_verify=False,
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
        **kw,
    )


# -- a raw NETCONF client for byte-level tests -------------------------------------------

CLIENT_HELLO = (
    '<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities>'
    "<capability>urn:ietf:params:netconf:base:1.0</capability>{extra}"
    "</capabilities></hello>"
)
BASE11 = "<capability>urn:ietf:params:netconf:base:1.1</capability>"


class RawClient:
    """asyncssh client speaking bytes: send exact frames, read decoded messages."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.decoder = FrameDecoder(64 * 1024 * 1024)
        self.chunked = False
        self.server_hello: etree._Element | None = None
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def open(self, user: str = USER, password: str = PASSWORD) -> RawClient:
        self.conn = await asyncssh.connect(
            "127.0.0.1",
            self.port,
            username=user,
            password=password,
            known_hosts=None,
            client_keys=None,
            agent_path=None,
        )
        self.writer, self.reader, _ = await self.conn.open_session(
            subsystem="netconf", encoding=None
        )
        self._pump = asyncio.create_task(self._read_loop())
        self.server_hello = etree.fromstring(await self.recv())
        return self

    async def _read_loop(self) -> None:
        try:
            while data := await self.reader.read(65536):
                self.decoder.feed(data)
                for msg in self.decoder.messages():
                    self._queue.put_nowait(msg)
        except Exception:
            pass
        self._queue.put_nowait(None)

    async def hello(self, base11: bool = True) -> None:
        self.send_raw(
            encode_message(CLIENT_HELLO.format(extra=BASE11 if base11 else "").encode(), False)
        )
        if base11:
            self.chunked = True
            self.decoder.set_chunked()

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def send(self, msg: str | bytes) -> None:
        body = msg.encode() if isinstance(msg, str) else msg
        self.send_raw(encode_message(body, self.chunked))

    async def recv(self, timeout: float = 5.0) -> bytes | None:
        """The next message, or None when the server closed the channel."""
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def rpc(self, body: str, message_id: str = "1", timeout: float = 5.0) -> etree._Element:
        self.send(f'<rpc message-id="{message_id}" xmlns="{NC_NS}">{body}</rpc>')
        while True:
            raw = await self.recv(timeout)
            assert raw is not None, "session closed instead of replying"
            el = etree.fromstring(raw)
            if etree.QName(el).localname == "rpc-reply":
                return el

    async def closed(self, timeout: float = 5.0) -> bool:
        """True once the server has closed the channel (after draining any messages)."""
        while True:
            if await self.recv(timeout) is None:
                return True

    async def close(self) -> None:
        self.conn.close()
        await self.conn.wait_closed()


async def raw_session(port: int, base11: bool = True) -> RawClient:
    client = await RawClient(port).open()
    await client.hello(base11)
    return client


def arun(coro: Any) -> Any:
    """A raw client's test body, run on its own loop in the test thread (30 s at most)."""
    return asyncio.run(asyncio.wait_for(coro, 30))


def error_fields(reply: etree._Element) -> list[dict[str, Any]]:
    """The rpc-errors of a reply as plain dicts (tag, type, info, path, app_tag)."""
    out = []
    for err in reply.iterfind(Q + "rpc-error"):
        info = err.find(Q + "error-info")
        out.append(
            {
                "tag": err.findtext(Q + "error-tag"),
                "type": err.findtext(Q + "error-type"),
                "severity": err.findtext(Q + "error-severity"),
                "app_tag": err.findtext(Q + "error-app-tag"),
                "path": err.findtext(Q + "error-path"),
                "info": [] if info is None else [(etree.QName(c).localname, c.text) for c in info],
            }
        )
    return out
