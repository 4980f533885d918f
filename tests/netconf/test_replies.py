"""Fast paths of a small request (issue 13) give what the general code gives.

``<ok/>`` replies come from a template unless the request has namespaced attributes,
and must be byte-identical to the tree-built reply; a request with fewer tags than
the depth limit is not walked for its depth, and a deeper one is still refused.
"""

from __future__ import annotations

import pytest
from lxml import etree

from qnms.netconf.protocol import messages
from qnms.yang.errors import NC_NS, ErrorTag, RpcError
from qnms.yang.secure_xml import parse_secure

ODD = "a&amp;b&quot;c&#10;&#9;&#13;&lt;&gt;"  # every character an attribute escapes
REQUESTS = [
    f'<rpc xmlns="{NC_NS}" message-id="101"><get/></rpc>',
    f'<rpc xmlns="{NC_NS}" message-id="{ODD}" x="y"><get/></rpc>',
    f'<nc:rpc xmlns:nc="{NC_NS}" message-id="7"><nc:get/></nc:rpc>',
    f'<rpc xmlns="{NC_NS}" xmlns:ex="urn:ex?a=1&amp;b=2" message-id="8"><get/></rpc>',
    f'<rpc xmlns="{NC_NS}" xmlns:a="urn:a" xmlns:b="urn:b" message-id="9" z="1"><get/></rpc>',
    f'<rpc xmlns="{NC_NS}" message-id="é€"><get/></rpc>',
]


def tree_reply(rpc: etree._Element) -> bytes:
    """The reply as the general path builds it (the template switched off)."""
    saved = messages._ok_reply
    messages._ok_reply = lambda _rpc: None
    try:
        return messages.rpc_reply(rpc, None)
    finally:
        messages._ok_reply = saved


@pytest.mark.parametrize("text", REQUESTS)
def test_ok_template_is_byte_identical_to_the_tree(text: str) -> None:
    rpc = etree.fromstring(text.encode())
    fast = messages._ok_reply(rpc)
    assert fast is not None
    assert fast == tree_reply(rpc)
    assert messages.rpc_reply(rpc, None) == fast


def test_namespaced_attributes_take_the_tree() -> None:
    rpc = etree.fromstring(
        f'<rpc xmlns="{NC_NS}" xmlns:x="urn:x" x:trace="1" message-id="3"><get/></rpc>'.encode()
    )
    assert messages._ok_reply(rpc) is None
    reply = etree.fromstring(messages.rpc_reply(rpc, None))
    assert reply.get("{urn:x}trace") == "1" and reply.get("message-id") == "3"


def nested(depth: int) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


def test_a_shallow_request_with_many_tags_parses() -> None:
    wide = b"<r>" + b"<a/>" * 600 + b"</r>"
    assert len(parse_secure(wide, max_depth=8)) == 600
    assert parse_secure(nested(5), max_depth=5).tag == "a"


@pytest.mark.parametrize("extra_siblings", [0, 50])
def test_too_deep_requests_are_refused(extra_siblings: int) -> None:
    deep = b"<r>" + b"<s/>" * extra_siblings + nested(12) + b"</r>"
    with pytest.raises(RpcError) as ei:
        parse_secure(deep, max_depth=12)
    assert ei.value.tag is ErrorTag.MALFORMED_MESSAGE
    assert "deeper than 12" in ei.value.message
