"""RFC 8639 / RFC 8641 errors: error identities mapped to NETCONF rpc-errors.

A subscriber must be able to tell *why* a subscription was refused and what would
work instead, so every refusal carries the error-tag of RFC 8639 section 2.4.6 (and
its RFC 8641 counterpart), ``error-app-tag`` set to ``module:identity``, and, in
``<error-info>``, the ``yang-data`` structure the modules define for that RPC
(``establish-subscription-stream-error-info`` and friends) with the reason and hints
such as ``period-hint``. Errors are raised before anything is created, so a refused
request leaves no half-made subscription behind.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

from lxml import etree

from qnms.yang.errors import NC_NS, ErrorTag, ErrorType, RpcError

SN_NS = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
YP_NS = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
DS_NS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
NOTIF_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"

Rpc = Literal["establish", "modify", "delete", "resync"]
TargetKind = Literal["stream", "datastore"]

# identity -> (module prefix, error-tag): RFC 8639 2.4.6 and RFC 8641 error tables.
IDENTITIES: dict[str, tuple[str, ErrorTag]] = {
    "encoding-unsupported": ("sn", ErrorTag.INVALID_VALUE),
    "filter-unsupported": ("sn", ErrorTag.INVALID_VALUE),
    "insufficient-resources": ("sn", ErrorTag.RESOURCE_DENIED),
    "no-such-subscription": ("sn", ErrorTag.INVALID_VALUE),
    "stream-unavailable": ("sn", ErrorTag.INVALID_VALUE),
    "cant-exclude": ("yp", ErrorTag.OPERATION_NOT_SUPPORTED),
    "datastore-not-subscribable": ("yp", ErrorTag.INVALID_VALUE),
    "no-such-subscription-resync": ("yp", ErrorTag.INVALID_VALUE),
    "on-change-unsupported": ("yp", ErrorTag.OPERATION_NOT_SUPPORTED),
    "on-change-sync-unsupported": ("yp", ErrorTag.OPERATION_NOT_SUPPORTED),
    "period-unsupported": ("yp", ErrorTag.INVALID_VALUE),
    "update-too-big": ("yp", ErrorTag.TOO_BIG),
    "sync-too-big": ("yp", ErrorTag.TOO_BIG),
    "unchanging-selection": ("yp", ErrorTag.OPERATION_FAILED),
}
PREFIX_NS = {"sn": SN_NS, "yp": YP_NS}
MODULE_OF = {"sn": "ietf-subscribed-notifications", "yp": "ietf-yang-push"}
# Identities that are not bases of the RPC's error identity cannot appear as the
# ``reason`` of its error-info (stream-unavailable is a termination reason only).
_NO_REASON = {"stream-unavailable"}
_HINTS = ("period-hint", "filter-failure-hint", "object-count-estimate", "object-count-limit",
          "kilobytes-estimate", "kilobytes-limit")  # fmt: skip


@dataclass
class SubscriptionError(RpcError):
    """An ``RpcError`` whose ``<error-info>`` also holds a namespaced structure."""

    detail: etree._Element | None = None

    def to_xml(self) -> etree._Element:
        err = super().to_xml()
        if self.detail is not None:
            info = err.find(f"{{{NC_NS}}}error-info")
            if info is None:
                info = etree.SubElement(err, f"{{{NC_NS}}}error-info")
            info.append(copy.deepcopy(self.detail))
        return err


def identity_text(identity: str) -> tuple[str, dict[str, str]]:
    """``prefix:identity`` and the namespace declaration it needs."""
    prefix = IDENTITIES.get(identity, ("sn", None))[0]
    return f"{prefix}:{identity}", {prefix: PREFIX_NS[prefix]}


def _info_container(rpc: Rpc, kind: TargetKind) -> tuple[str, str]:
    """(namespace, name) of the yang-data structure for errors of ``rpc``."""
    if rpc == "delete":
        return SN_NS, "delete-subscription-error-info"
    if rpc == "resync":
        return YP_NS, "resync-subscription-error"
    ns = SN_NS if kind == "stream" else YP_NS
    return ns, f"{rpc}-subscription-{kind}-error-info"


def sub_error(
    identity: str,
    message: str,
    *,
    rpc: Rpc,
    kind: TargetKind = "stream",
    bad_element: str | None = None,
    **hints: object,
) -> SubscriptionError:
    """The rpc-error for ``identity`` raised by ``rpc`` on a ``kind`` subscription.

    ``hints`` are the RFC 8641 ``hints`` leaves (``period_hint=100``,
    ``filter_failure_hint="..."``); stream errors carry only the filter hint.
    """
    prefix, tag = IDENTITIES[identity]
    ns, name = _info_container(rpc, kind)
    detail = etree.Element(f"{{{ns}}}{name}", nsmap={None: ns})
    if identity not in _NO_REASON:
        reason, nsmap = identity_text(identity)
        etree.SubElement(detail, f"{{{ns}}}reason", nsmap=nsmap).text = reason
    for key, value in hints.items():
        leaf = key.replace("_", "-")
        if leaf not in _HINTS or value is None:
            continue
        if ns == SN_NS and leaf != "filter-failure-hint":
            continue
        if rpc == "delete":
            continue
        etree.SubElement(detail, f"{{{ns}}}{leaf}").text = str(value)
    return SubscriptionError(
        tag,
        message,
        type=ErrorType.APPLICATION,
        app_tag=f"{MODULE_OF[prefix]}:{identity}",
        info=[("bad-element", bad_element)] if bad_element else [],
        detail=detail,
    )


def bad_value(name: str, message: str) -> RpcError:
    """A malformed parameter value (RFC 6241 invalid-value, no subscription identity)."""
    return RpcError(
        ErrorTag.INVALID_VALUE,
        message,
        type=ErrorType.PROTOCOL,
        info=[("bad-element", name)],
    )
