"""The XML of a session's own messages (RFC 6241 4.1-4.2, 8.1; RFC 6242 4.1).

Pure functions, kept apart from ``session`` (which owns the connection, its order and
its locks): the server's hello, the check that a request is one well-formed ``<rpc>``
with one operation, and the ``<rpc-reply>`` that echoes the request's attributes and
namespace declarations around the answer or its errors.
"""

from __future__ import annotations

from lxml import etree

from qnms.netconf.protocol.framing import encode_message
from qnms.yang.errors import NC_NS, ErrorTag, ErrorType, RpcError
from qnms.yang.tree import parse_own

XML_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_Q = f"{{{NC_NS}}}"


def hello_message(capabilities: list[str], session_id: int) -> bytes:
    """The server's ``<hello>``, framed end-of-message (RFC 6242 4.1: both sides send
    their hello before the framing is chosen)."""
    hello = etree.Element(_Q + "hello", nsmap={None: NC_NS})
    caps = etree.SubElement(hello, _Q + "capabilities")
    for cap in capabilities:
        etree.SubElement(caps, _Q + "capability").text = cap
    etree.SubElement(hello, _Q + "session-id").text = str(session_id)
    return encode_message(XML_DECL + etree.tostring(hello, encoding="UTF-8"), False)


def check_envelope(rpc: etree._Element) -> None:
    """RFC 6241 4.1: an ``<rpc>`` in the base namespace, a message-id, one operation."""
    qn = etree.QName(rpc)
    name = qn.localname
    ops = [child for child in rpc if isinstance(child.tag, str)]
    if qn.namespace != NC_NS:
        problem = (ErrorTag.UNKNOWN_NAMESPACE, f"<{name}> is not in the NETCONF namespace",
                   [("bad-element", name), ("bad-namespace", qn.namespace or "")])  # fmt: skip
    elif name != "rpc":
        problem = (ErrorTag.UNKNOWN_ELEMENT, f"expected <rpc>, got <{name}>",
                   [("bad-element", name)])  # fmt: skip
    elif rpc.get("message-id") is None:
        problem = (ErrorTag.MISSING_ATTRIBUTE, "<rpc> has no message-id attribute",
                   [("bad-attribute", "message-id"), ("bad-element", "rpc")])  # fmt: skip
    elif not ops:
        problem = (ErrorTag.MISSING_ELEMENT, "<rpc> contains no operation",
                   [("bad-element", "rpc")])  # fmt: skip
    elif len(ops) > 1:
        extra = etree.QName(ops[1]).localname
        problem = (ErrorTag.UNKNOWN_ELEMENT, f"<rpc> has more than one operation ({extra})",
                   [("bad-element", extra)])  # fmt: skip
    else:
        for child in list(rpc):
            if not isinstance(child.tag, str):
                rpc.remove(child)  # comments: the operation must be rpc[0]
        return
    tag, message, info = problem
    raise RpcError(tag, message, type=ErrorType.RPC, info=info)


def rpc_reply(
    rpc: etree._Element | None,
    result: list[etree._Element | bytes] | list[RpcError] | None,
) -> bytes:
    """The serialised ``<rpc-reply>`` to ``rpc`` (None: a request too broken to echo):
    ``<ok/>`` for no result, else the result's elements (or their bytes, already
    serialised) and errors in order."""
    written = [item for item in result or () if isinstance(item, bytes)]
    if rpc is not None and len(written) == len(result or ()):
        head = _reply_head(rpc)
        if head is not None:
            return XML_DECL + head + (b"".join(written) or b"<ok/>") + b"</rpc-reply>"
    nsmap: dict[str | None, str] = {None: NC_NS}
    if rpc is not None:
        nsmap.update({p: ns for p, ns in rpc.nsmap.items() if p and ns != NC_NS})
    reply = etree.Element(_Q + "rpc-reply", nsmap=nsmap)
    if rpc is not None:
        for name, value in rpc.attrib.items():
            reply.set(name, value)
    if not result:
        etree.SubElement(reply, _Q + "ok")
    else:
        for item in result:
            reply.append(item.to_xml() if isinstance(item, RpcError) else as_element(item))
    return XML_DECL + etree.tostring(reply, encoding="UTF-8")


def as_element(item: etree._Element | bytes) -> etree._Element:
    """A reply's child as an element (parsed, if it came serialised)."""
    return parse_own(item) if isinstance(item, bytes) else item


_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;",
     "\t": "&#9;"}
)  # fmt: skip


def _reply_head(rpc: etree._Element) -> bytes | None:
    """The ``<rpc-reply>`` start tag echoing ``rpc``'s attributes and declarations, from
    a template (most replies: building and serialising a tree cost more than the rest of
    a small get's reply), or None when the request carries namespaced attributes, which
    need the tree to get their prefixes right."""
    decls = [f' xmlns="{NC_NS}"']
    for prefix, ns in rpc.nsmap.items():
        if prefix and ns != NC_NS:
            decls.append(f' xmlns:{prefix}="{ns.translate(_ESCAPES)}"')
    for name, value in rpc.attrib.items():
        if name.startswith("{"):
            return None
        decls.append(f' {name}="{value.translate(_ESCAPES)}"')
    return f"<rpc-reply{''.join(decls)}>".encode()
