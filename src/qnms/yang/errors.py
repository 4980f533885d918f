"""NETCONF errors as values (RFC 6241 section 4.3 and appendix A).

An ``RpcError`` is raised once, where the problem is found, and rendered once, at the
session boundary, as an ``<rpc-error>`` element. Keeping error-type, error-tag,
error-path and error-info as typed fields (rather than strings glued together) is what
lets every layer (datastore, validator, agent logic) report precisely what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from lxml import etree

NC_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"


class ErrorType(StrEnum):
    TRANSPORT = "transport"
    RPC = "rpc"
    PROTOCOL = "protocol"
    APPLICATION = "application"


class ErrorTag(StrEnum):
    """The error-tag values of RFC 6241 appendix A."""

    IN_USE = "in-use"
    INVALID_VALUE = "invalid-value"
    TOO_BIG = "too-big"
    MISSING_ATTRIBUTE = "missing-attribute"
    BAD_ATTRIBUTE = "bad-attribute"
    UNKNOWN_ATTRIBUTE = "unknown-attribute"
    MISSING_ELEMENT = "missing-element"
    BAD_ELEMENT = "bad-element"
    UNKNOWN_ELEMENT = "unknown-element"
    UNKNOWN_NAMESPACE = "unknown-namespace"
    ACCESS_DENIED = "access-denied"
    LOCK_DENIED = "lock-denied"
    RESOURCE_DENIED = "resource-denied"
    ROLLBACK_FAILED = "rollback-failed"
    DATA_EXISTS = "data-exists"
    DATA_MISSING = "data-missing"
    OPERATION_NOT_SUPPORTED = "operation-not-supported"
    OPERATION_FAILED = "operation-failed"
    PARTIAL_OPERATION = "partial-operation"
    MALFORMED_MESSAGE = "malformed-message"


@dataclass
class RpcError(Exception):
    """One ``<rpc-error>``.

    ``path`` is an absolute instance-identifier XPath (``/qfs:quantum-fabric/...``);
    ``path_ns`` maps the prefixes used in it to namespaces so the rendered
    ``<error-path>`` element declares them. ``info`` holds error-info children as
    (local-name, text) pairs in the NETCONF namespace (``bad-element``, ``session-id``,
    ...); ``app_tag`` is the optional error-app-tag (RFC 8639 and RFC 7950 use it).
    """

    tag: ErrorTag
    message: str
    type: ErrorType = ErrorType.APPLICATION
    path: str | None = None
    path_ns: dict[str, str] = field(default_factory=dict)
    info: list[tuple[str, str]] = field(default_factory=list)
    app_tag: str | None = None
    severity: str = "error"

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def to_xml(self) -> etree._Element:
        """Render as an ``<rpc-error>`` element in the NETCONF base namespace."""
        q = f"{{{NC_NS}}}"
        err = etree.Element(q + "rpc-error", nsmap={None: NC_NS})
        etree.SubElement(err, q + "error-type").text = str(self.type)
        etree.SubElement(err, q + "error-tag").text = str(self.tag)
        etree.SubElement(err, q + "error-severity").text = self.severity
        if self.app_tag:
            etree.SubElement(err, q + "error-app-tag").text = self.app_tag
        if self.path:
            nsmap = {p: ns for p, ns in self.path_ns.items() if p}
            path_el = etree.SubElement(err, q + "error-path", nsmap=nsmap)
            path_el.text = self.path
        msg = etree.SubElement(err, q + "error-message")
        msg.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        msg.text = self.message
        if self.info:
            info = etree.SubElement(err, q + "error-info")
            for name, text in self.info:
                etree.SubElement(info, q + name).text = text
        return err


class RpcErrors(Exception):
    """Several ``<rpc-error>`` elements for one reply (error-option continue-on-error)."""

    def __init__(self, errors: list[RpcError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors
