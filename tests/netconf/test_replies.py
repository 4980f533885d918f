"""Fast paths of a small request (issue 13) give what the general code gives.

``<ok/>`` replies, and replies of already serialised data (an unchanged datastore's
``<data>``, shared by every get-config), come from a template unless the request has
namespaced attributes, and must be byte-identical to the tree-built reply (the data:
the same XML); a request with fewer tags than the depth limit is not walked for its
depth, and a deeper one is still refused.
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


def tree_reply(rpc: etree._Element, result: list[etree._Element | bytes] | None = None) -> bytes:
    """The reply as the general path builds it (the template switched off)."""
    saved = messages._reply_head
    messages._reply_head = lambda _rpc: None
    try:
        return messages.rpc_reply(rpc, result)
    finally:
        messages._reply_head = saved


@pytest.mark.parametrize("text", REQUESTS)
def test_ok_template_is_byte_identical_to_the_tree(text: str) -> None:
    rpc = etree.fromstring(text.encode())
    assert messages._reply_head(rpc) is not None
    assert messages.rpc_reply(rpc, None) == tree_reply(rpc)


DATA = (
    f'<data xmlns="{NC_NS}"><top xmlns="urn:ex" xmlns:t="urn:types">'
    "<kind>t:fast</kind><name>a&amp;b</name><empty/></top></data>"
)


def canonical(xml: bytes) -> bytes:
    return etree.tostring(etree.fromstring(xml), method="c14n")


@pytest.mark.parametrize("text", REQUESTS)
def test_serialised_data_in_the_template_is_the_tree_reply(text: str) -> None:
    rpc = etree.fromstring(text.encode())
    written = etree.tostring(etree.fromstring(DATA.encode()), encoding="UTF-8")
    fast = messages.rpc_reply(rpc, [written])
    assert canonical(fast) == canonical(tree_reply(rpc, [etree.fromstring(DATA.encode())]))
    kind = etree.fromstring(fast).find(f"{{{NC_NS}}}data/{{urn:ex}}top/{{urn:ex}}kind")
    assert kind is not None and kind.nsmap["t"] == "urn:types"  # the identity's prefix


def test_namespaced_attributes_take_the_tree() -> None:
    rpc = etree.fromstring(
        f'<rpc xmlns="{NC_NS}" xmlns:x="urn:x" x:trace="1" message-id="3"><get/></rpc>'.encode()
    )
    assert messages._reply_head(rpc) is None
    reply = etree.fromstring(messages.rpc_reply(rpc, None))
    assert reply.get("{urn:x}trace") == "1" and reply.get("message-id") == "3"
    assert reply.find(f"{{{NC_NS}}}ok") is not None
    reply = etree.fromstring(messages.rpc_reply(rpc, [DATA.encode()]))  # parsed into the tree
    assert reply.get("{urn:x}trace") == "1"
    assert reply.findtext(f"{{{NC_NS}}}data/{{urn:ex}}top/{{urn:ex}}name") == "a&b"


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
