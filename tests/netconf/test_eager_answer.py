"""A request is answered in the loop turn it arrives in (issue 13).

The transport hands the session the bytes of a read (``data_received``), then says the
read is done (``read_done``): the session starts answering there (an eager task),
instead of one loop turn later, and the requests of one read are answered together
(one write: a pipelining client's edits share one fsync). These tests drive a session
with a transport that records what it is given, and look at what was written when
``read_done`` returned, without letting the loop run in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from lxml import etree
from support.servers import USER, make_datastores

from qnms.netconf.protocol.session import NetconfSession
from qnms.netconf.server import NetconfServer
from qnms.yang.errors import NC_NS

HELLO = (
    f'<hello xmlns="{NC_NS}"><capabilities>'
    "<capability>urn:ietf:params:netconf:base:1.0</capability>"
    "</capabilities></hello>]]>]]>"
).encode()


def rpc(message_id: str, body: str) -> bytes:
    return f'<rpc message-id="{message_id}" xmlns="{NC_NS}">{body}</rpc>]]>]]>'.encode()


GET_CONFIG = "<get-config><source><running/></source></get-config>"


class Recorder:
    """The ``Transport`` of a session: keeps what is written."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def replies(self) -> list[etree._Element]:
        data = b"".join(self.written)
        return [etree.fromstring(m) for m in data.split(b"]]>]]>") if m.strip()]


def with_session(check: Callable[[NetconfSession, Recorder], None]) -> None:
    async def run() -> None:
        server = NetconfServer(make_datastores())
        transport = Recorder()
        session = server.new_session(USER, "127.0.0.1", transport)
        session.start()
        session.data_received(HELLO)
        session.read_done()
        transport.written.clear()
        try:
            check(session, transport)
        finally:
            session.close()

    asyncio.run(run())


def test_a_request_is_answered_before_data_received_returns() -> None:
    def check(session: NetconfSession, transport: Recorder) -> None:
        session.data_received(rpc("7", GET_CONFIG))
        assert transport.written == []  # the read may hold more: nothing answered yet
        session.read_done()
        (reply,) = transport.replies()
        assert reply.get("message-id") == "7"
        assert reply.find(f"{{{NC_NS}}}data") is not None

    with_session(check)


def test_requests_read_together_are_answered_in_order_in_one_write() -> None:
    def check(session: NetconfSession, transport: Recorder) -> None:
        session.data_received(rpc("1", GET_CONFIG) + rpc("2", "<bogus/>"))
        session.data_received(rpc("3", GET_CONFIG))  # another packet of the same read
        session.read_done()
        assert len(transport.written) == 1  # held while more waited: one write
        replies = transport.replies()
        assert [r.get("message-id") for r in replies] == ["1", "2", "3"]
        assert replies[1].find(f"{{{NC_NS}}}rpc-error") is not None
        session.data_received(rpc("4", GET_CONFIG))  # a new one after the others ended
        session.read_done()
        assert [r.get("message-id") for r in transport.replies()] == ["1", "2", "3", "4"]

    with_session(check)


def test_close_session_answers_then_closes_the_transport() -> None:
    def check(session: NetconfSession, transport: Recorder) -> None:
        session.data_received(rpc("9", "<close-session/>") + rpc("10", GET_CONFIG))
        session.read_done()
        replies = transport.replies()
        assert [r.get("message-id") for r in replies] == ["9"]  # nothing after close
        assert replies[0].find(f"{{{NC_NS}}}ok") is not None
        assert transport.closed and session.closed

    with_session(check)
