"""Decoding the RFC 8639 / RFC 8641 RPC inputs, strictly and before anything changes.

Every parameter is checked here (namespace, duplicates, type, range, filter syntax)
so that the RPC handlers in ``subscriptions`` only ever build a subscription from a
request already known to be good. Parameters of features this server does not
implement (replay, dscp, qos, configured subscriptions) are unknown elements, as they
would be for a client validating against the advertised yang-library.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from lxml import etree

from qnms.netconf.protocol.operations import missing, perr
from qnms.netconf.push.errors import (
    SN_NS,
    YP_NS,
    Rpc,
    TargetKind,
    bad_value,
    sub_error,
)
from qnms.yang.errors import ErrorTag, RpcError
from qnms.yang.tree import copy_with_ns, split_tag

_SN = SN_NS
_YP = YP_NS
_DATASTORE_PARAMS = {
    "datastore": _YP,
    "selection-filter-ref": _YP,
    "datastore-subtree-filter": _YP,
    "datastore-xpath-filter": _YP,
    "periodic": _YP,
    "on-change": _YP,
}
_STREAM_FILTERS = {"stream-filter-name": _SN, "stream-subtree-filter": _SN,
                   "stream-xpath-filter": _SN}  # fmt: skip
ESTABLISH_PARAMS = {"stream": _SN, **_STREAM_FILTERS, "stop-time": _SN, "encoding": _SN,
                    **_DATASTORE_PARAMS}  # fmt: skip
MODIFY_PARAMS = {"id": _SN, **_STREAM_FILTERS, "stop-time": _SN, **_DATASTORE_PARAMS}
ID_PARAMS = {"id": _SN}
STREAM_FILTER_NAMES = ("stream-filter-name", "stream-subtree-filter", "stream-xpath-filter")
DATASTORE_FILTER_NAMES = ("selection-filter-ref", "datastore-subtree-filter",
                          "datastore-xpath-filter")  # fmt: skip
UINT32_MAX = 2**32 - 1


@dataclass(frozen=True)
class FilterSpec:
    """A subtree or XPath filter as the subscriber gave it (kept to report it back)."""

    kind: Literal["subtree", "xpath"]
    element: etree._Element  # a private copy of the filter element

    @functools.cached_property
    def key(self) -> bytes:
        """Canonical form: equal filters share one evaluation per instant."""
        return self.kind.encode() + etree.tostring(self.element, method="c14n")

    @property
    def select(self) -> str:
        return (self.element.text or "").strip()

    @property
    def nsmap(self) -> dict[str, str]:
        return {p: ns for p, ns in self.element.nsmap.items() if p}

    def describe(self, parent: etree._Element, ns: str, name: str) -> None:
        """Add the filter to ``parent`` as ``name`` in ``ns`` (state, notifications)."""
        el = etree.SubElement(parent, f"{{{ns}}}{name}", nsmap=self.element.nsmap)
        if self.kind == "xpath":
            el.text = self.select
        else:
            for child in self.element:
                if isinstance(child.tag, str):
                    el.append(copy_with_ns(child))


def collect(op: etree._Element, allowed: dict[str, str]) -> dict[str, etree._Element]:
    """The operation's parameters by local name; unknown or repeated ones are errors."""
    name_of_op = etree.QName(op).localname
    out: dict[str, etree._Element] = {}
    for child in op:
        if not isinstance(child.tag, str):
            continue
        ns, name = split_tag(child.tag)
        if allowed.get(name) != ns:
            raise perr(
                ErrorTag.UNKNOWN_ELEMENT,
                f"unknown parameter {name!r} (namespace {ns!r}) of {name_of_op}",
                ("bad-element", name),
            )
        if name in out:
            raise perr(ErrorTag.BAD_ELEMENT, f"parameter {name!r} given twice",
                       ("bad-element", name))  # fmt: skip
        out[name] = child
    return out


def target_kind(p: dict[str, etree._Element], existing: TargetKind | None = None) -> TargetKind:
    """Stream or datastore: the ``target`` choice, exactly one case (RFC 8639: the
    choice is mandatory, also in modify-subscription, which cannot switch cases)."""
    stream = [n for n in ("stream", *STREAM_FILTER_NAMES) if n in p]
    datastore = [n for n in _DATASTORE_PARAMS if n in p]
    if stream and datastore:
        raise perr(ErrorTag.BAD_ELEMENT,
                   f"{stream[0]!r} and {datastore[0]!r} belong to different targets",
                   ("bad-element", datastore[0]))  # fmt: skip
    found: TargetKind | None = "datastore" if datastore else "stream" if stream else None
    if existing is not None and found is not None and found != existing:
        bad = (datastore or stream)[0]
        raise perr(ErrorTag.BAD_ELEMENT, f"a {existing} subscription cannot become a {found} "
                   "subscription", ("bad-element", bad))  # fmt: skip
    if found is None:
        if existing == "datastore":
            raise missing("datastore")
        raise missing("stream" if existing is None else "stream-subtree-filter")
    return found


def parse_filter(
    p: dict[str, etree._Element],
    names: tuple[str, str, str],
    *,
    rpc: Rpc,
    kind: TargetKind,
) -> FilterSpec | None:
    """The filter of a request (by-reference, subtree or XPath), syntax-checked."""
    ref, subtree, xpath = names
    present = [n for n in names if n in p]
    if len(present) > 1:
        raise perr(ErrorTag.BAD_ELEMENT, f"give only one of {', '.join(present)}",
                   ("bad-element", present[1]))  # fmt: skip
    if ref in p:
        name = (p[ref].text or "").strip()
        raise sub_error(
            "filter-unsupported",
            f"no filter named {name!r}: this publisher has no configured filters",
            rpc=rpc, kind=kind, bad_element=ref,
            filter_failure_hint="give the filter within the subscription",
        )  # fmt: skip
    if xpath in p:
        el = copy_with_ns(p[xpath])
        spec = FilterSpec("xpath", el)
        problem = _xpath_problem(spec.select, spec.nsmap)
        if problem:
            raise sub_error("filter-unsupported", f"bad XPath filter: {problem}", rpc=rpc,
                            kind=kind, bad_element=xpath, filter_failure_hint=problem)  # fmt: skip
        return spec
    if subtree in p:
        el = copy_with_ns(p[subtree])
        if (el.text or "").strip() or not any(isinstance(c.tag, str) for c in el):
            raise sub_error("filter-unsupported", "a subtree filter needs element content",
                            rpc=rpc, kind=kind, bad_element=subtree,
                            filter_failure_hint="empty or text-only subtree filter")  # fmt: skip
        return FilterSpec("subtree", el)
    return None


def _xpath_problem(select: str, nsmap: dict[str, str]) -> str | None:
    if not select:
        return "empty expression"
    try:
        # Evaluating once on a dummy node also catches undefined prefixes.
        result = etree.XPath(select, namespaces=nsmap)(etree.Element("probe"))
    except (etree.XPathSyntaxError, etree.XPathEvalError) as exc:
        return f"{select!r}: {exc}"
    if not isinstance(result, list):
        return f"{select!r} does not select nodes"
    return None


def parse_uint32(el: etree._Element | None, name: str, default: int | None = None) -> int:
    if el is None:
        if default is None:
            raise missing(name)
        return default
    raw = (el.text or "").strip()
    if not raw.isdigit() or int(raw) > UINT32_MAX:
        raise bad_value(name, f"{name} must be an unsigned 32-bit integer, not {raw!r}")
    return int(raw)


def parse_time(el: etree._Element) -> datetime:
    """``yang:date-and-time`` (RFC 3339 with an offset)."""
    raw = (el.text or "").strip()
    name = etree.QName(el).localname
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        dt = None
    if dt is None or dt.tzinfo is None or "T" not in raw.upper():
        raise bad_value(name, f"{name} {raw!r} is not an RFC 3339 date-and-time")
    return dt


def parse_stop_time(p: dict[str, etree._Element]) -> datetime | None:
    """RFC 8639: without replay, a stop-time must lie in the future."""
    if "stop-time" not in p:
        return None
    stop = parse_time(p["stop-time"])
    if stop <= datetime.now(UTC):
        raise bad_value("stop-time", "stop-time is not in the future")
    return stop


def parse_identity(el: etree._Element) -> tuple[str, str]:
    """(namespace, name) of an identityref value in ``el``'s namespace context."""
    raw = (el.text or "").strip()
    prefix, _, name = raw.rpartition(":")
    ns = el.nsmap.get(prefix or None)
    if ns is None or not name:
        raise bad_value(etree.QName(el).localname, f"{raw!r} is not a known identity")
    return ns, name


def check_encoding(p: dict[str, etree._Element], kind: TargetKind) -> None:
    """Only XML is sent (feature encode-xml; not encode-json)."""
    el = p.get("encoding")
    if el is None:
        return
    try:
        ns, name = parse_identity(el)
    except RpcError:
        ns, name = "", (el.text or "").strip()
    if (ns, name) != (SN_NS, "encode-xml"):
        raise sub_error("encoding-unsupported", f"encoding {name!r} is not supported; "
                        "use encode-xml", rpc="establish", kind=kind,
                        bad_element="encoding")  # fmt: skip


def parse_id(p: dict[str, etree._Element]) -> int:
    if "id" not in p:
        raise missing("id")
    return parse_uint32(p["id"], "id")
