"""RFC 5277 2.1.1 create-subscription: a session's subscription to one event stream.

Kept apart from ``notifications`` (streams and subscribers, which know nothing of
sessions or operations) because the operation needs both: the session it subscribes
and the parameter and filter helpers of ``operations``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from qnms.netconf.protocol.notifications import DEFAULT_STREAM, NOTIF_NS, EventFilter
from qnms.netconf.protocol.operations import apply_filter, missing, params, perr
from qnms.netconf.protocol.session import NetconfSession
from qnms.yang.errors import NC_NS, ErrorTag, ErrorType, RpcError

_Q = f"{{{NC_NS}}}"


def _parse_time(el: etree._Element) -> datetime:
    raw = (el.text or "").strip()
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        dt = None
    if dt is None or dt.tzinfo is None:
        name = etree.QName(el).localname
        raise perr(ErrorTag.BAD_ELEMENT, f"{name} {raw!r} is not an RFC 3339 date-and-time",
                   ("bad-element", name))  # fmt: skip
    return dt


def op_create_subscription(s: NetconfSession, op: etree._Element) -> None:
    """RFC 5277 2.1.1: subscribe this session to a stream; delivery starts after the reply."""
    p = params(
        op, {"stream", "filter", "startTime", "stopTime"}, ns=NOTIF_NS, other_ns={"filter": NC_NS}
    )
    name = (p["stream"].text or "").strip() if "stream" in p else DEFAULT_STREAM
    stream = s.core.hub.streams.get(name)
    if stream is None:
        raise RpcError(
            ErrorTag.INVALID_VALUE,
            f"no event stream {name!r}",
            type=ErrorType.APPLICATION,
            info=[("bad-element", "stream")],
        )
    start = _parse_time(p["startTime"]) if "startTime" in p else None
    stop = _parse_time(p["stopTime"]) if "stopTime" in p else None
    # RFC 5277 2.1.1 negative responses, in its order.
    if stop is not None and start is None:
        raise missing("startTime")
    if start is not None and stop is not None and stop < start:
        raise perr(
            ErrorTag.BAD_ELEMENT, "stopTime is before startTime", ("bad-element", "stopTime")
        )
    if start is not None and start > datetime.now(UTC):
        raise perr(ErrorTag.BAD_ELEMENT, "startTime is in the future", ("bad-element", "startTime"))
    if start is not None and not stream.replay_support:
        raise perr(ErrorTag.OPERATION_FAILED, f"stream {name!r} does not support replay")
    if s.subscriber is not None:
        raise perr(ErrorTag.IN_USE, "this session already has a notification subscription")
    if getattr(s, "subscriptions", None):  # RFC 8640 section 3: not on one session
        raise perr(ErrorTag.OPERATION_NOT_SUPPORTED,
                   "this session has RFC 8639 subscriptions (establish-subscription)")  # fmt: skip
    event_filter = _event_filter(p.get("filter"))
    sub = stream.subscribe(
        event_filter=event_filter,
        queue_size=s.core.options.notification_queue_size,
        owner=s,
    )
    s.subscriber = sub
    s.after_reply(lambda: s.start_notifications(sub))
    return None


def _event_filter(flt: etree._Element | None) -> EventFilter | None:
    """Validate the filter now (errors belong in this reply) and return its matcher."""
    if flt is None:
        return None
    # The filter element is in the notification namespace (RFC 5277); give the shared
    # filter code the same attributes under the NETCONF name.
    nc_flt = etree.Element(_Q + "filter", nsmap=flt.nsmap, attrib=dict(flt.attrib))
    nc_flt.text = flt.text
    for child in flt:
        nc_flt.append(etree.fromstring(etree.tostring(child)))
    probe = etree.Element(_Q + "data", nsmap={None: NC_NS})
    apply_filter(probe, nc_flt, None)  # a bad filter fails now, not at the first event

    def match(content: etree._Element) -> etree._Element | None:
        data = etree.Element(_Q + "data", nsmap={None: NC_NS})
        data.append(etree.fromstring(etree.tostring(content)))
        out = apply_filter(data, nc_flt, None)  # event content: no datastore schema
        kids = [c for c in out if isinstance(c.tag, str)]
        return kids[0] if kids else None

    return match
