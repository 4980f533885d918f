"""Parsing NETCONF messages from untrusted peers (RFC 6241 section 3, RFC 6242).

Every byte a client sends reaches lxml through here: no DTDs, no entity expansion, no
network access, bounded nesting, so a hostile message costs its size and no more.
"""

from __future__ import annotations

import functools

from lxml import etree

from qnms.yang.errors import ErrorTag, ErrorType, RpcError

# libxml2 itself refuses a document nested deeper than this without XML_PARSE_HUGE
# (``huge_tree`` False below): a limit at least as deep needs no walk of ours
LIBXML_MAX_DEPTH = 256
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    huge_tree=False,
    load_dtd=False,
    dtd_validation=False,
    remove_pis=True,
    collect_ids=False,
)


def parse_secure(raw: bytes, max_depth: int = 256) -> etree._Element:
    """Parse one message, refusing anything that could expand or nest without bound.

    DTDs are rejected before libxml2 sees them (billion laughs, external entities),
    entity resolution and network access are off, and depth is checked explicitly.
    """
    # Peers that end a base:1.0 message with "]]>]]>\n" leave the LF at the start of
    # the next one, where it would make an XML declaration ill-formed.
    raw = raw.lstrip()
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise _malformed("DTDs and entity declarations are not allowed in NETCONF messages")
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        if "Excessive depth" in str(exc):
            limit = min(max_depth, LIBXML_MAX_DEPTH)
            raise _malformed(f"message nested deeper than {limit} levels") from None
        raise _malformed(f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise _malformed("DTDs are not allowed in NETCONF messages")
    # Nesting needs a "<" per level: a message with no more than max_depth of them
    # cannot be too deep, and the XPath (~20 us even on a small edit; ~12 ms over the
    # 100,000 elements of a 20,000-entry edit) is skipped, as it is for the usual limit,
    # which libxml2 enforces itself.
    if (
        max_depth < LIBXML_MAX_DEPTH
        and raw.count(b"<") > max_depth
        and _deeper_than(max_depth)(root)
    ):
        raise _malformed(f"message nested deeper than {max_depth} levels")
    return root


@functools.cache
def _deeper_than(max_depth: int) -> etree.XPath:
    """True for a document with an element below ``max_depth`` levels (``/*/*/...``,
    one step more): libxml2 walks the levels in C; a walk in Python took ~0.3 s of a
    20,000-entry edit-config (issue 13)."""
    return etree.XPath("boolean(/" + "/".join(["*"] * (max_depth + 1)) + ")")


def _malformed(message: str) -> RpcError:
    return RpcError(ErrorTag.MALFORMED_MESSAGE, message, type=ErrorType.RPC)
