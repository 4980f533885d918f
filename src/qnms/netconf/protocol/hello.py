"""The client's ``<hello>`` (RFC 6241 8.1, RFC 6242 4.1): what a session learns from it.

Kept apart from ``session`` (which owns the connection and its order): the check that
the first message is a well-formed hello without a session-id, and the framing it
chooses (chunked when both sides announce base:1.1, else end-of-message if the
client announces base:1.0).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from qnms.yang.errors import NC_NS

BASE_10 = "urn:ietf:params:netconf:base:1.0"
BASE_11 = "urn:ietf:params:netconf:base:1.1"


class BadHello(Exception):
    """The client's first message is not an acceptable hello (the session closes)."""


@dataclass(frozen=True, slots=True)
class ClientHello:
    capabilities: list[str]
    chunked: bool  # both sides speak base:1.1: RFC 6242 chunked framing from now on


def read_hello(root: etree._Element, server_capabilities: list[str]) -> ClientHello:
    """The client's hello, parsed; ``BadHello`` saying why it is not acceptable."""
    qn = etree.QName(root)
    if qn.localname != "hello" or qn.namespace not in (NC_NS, None):
        raise BadHello("first message is not a hello")
    q = f"{{{qn.namespace}}}" if qn.namespace else ""
    if root.find(q + "session-id") is not None:
        # RFC 6241 8.1: a client hello with a session-id terminates the session.
        raise BadHello("client hello carries a session-id")
    caps = [(c.text or "").strip() for c in root.iterfind(f"{q}capabilities/{q}capability")]
    if BASE_11 in caps and BASE_11 in server_capabilities:
        return ClientHello(caps, chunked=True)
    if BASE_10 not in caps:
        raise BadHello("client hello lacks base:1.0/1.1")
    return ClientHello(caps, chunked=False)
