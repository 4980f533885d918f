"""RFC 6241 base operations and RFC 6022 get-schema, with their parameter helpers.

Each handler checks its parameters completely before touching a datastore, so a bad
request leaves all state unchanged and gets the precise error-tag, error-type and
error-info a mature server would give. Handlers return the reply's children (``None``
means ``<ok/>``) and raise ``RpcError``; the session renders both. Agents and later
protocol extensions (RFC 8639) add operations through ``OperationRegistry.register``
(``dispatch``); RFC 5277 create-subscription is in ``create_subscription``.
"""

from __future__ import annotations

from lxml import etree

from qnms.netconf.interfaces import DatastoreName, DefaultOperation, ErrorOption, TestOption
from qnms.netconf.protocol.dispatch import Reply
from qnms.netconf.protocol.monitoring import NCM_NS
from qnms.netconf.protocol.session import NetconfSession, ServerCore
from qnms.yang import filters
from qnms.yang.errors import NC_NS, ErrorTag, ErrorType, RpcError
from qnms.yang.schema import Schema

_Q = f"{{{NC_NS}}}"
_PROTO = ErrorType.PROTOCOL


# -- parameter helpers ------------------------------------------------------------------


def params(
    op: etree._Element,
    allowed: set[str],
    ns: str = NC_NS,
    other_ns: dict[str, str] | None = None,
) -> dict[str, etree._Element]:
    """The operation's parameter elements by local name; unknown ones are errors.

    ``other_ns`` admits a parameter in a second namespace (clients such as ncclient
    put RFC 5277's ``<filter>`` in the base namespace).
    """
    out: dict[str, etree._Element] = {}
    for child in op:
        if not isinstance(child.tag, str):
            continue
        qn = etree.QName(child)
        if qn.namespace != ns and (other_ns or {}).get(qn.localname) != qn.namespace:
            raise perr(
                ErrorTag.UNKNOWN_NAMESPACE,
                f"parameter {qn.localname!r} of {etree.QName(op).localname} is in namespace "
                f"{qn.namespace!r}",
                ("bad-element", qn.localname),
                ("bad-namespace", qn.namespace or ""),
            )
        if qn.localname not in allowed:
            raise perr(
                ErrorTag.UNKNOWN_ELEMENT,
                f"unknown parameter {qn.localname!r} of {etree.QName(op).localname}",
                ("bad-element", qn.localname),
            )
        if qn.localname in out:
            raise perr(
                ErrorTag.BAD_ELEMENT,
                f"parameter {qn.localname!r} given twice",
                ("bad-element", qn.localname),
            )
        out[qn.localname] = child
    return out


def perr(tag: ErrorTag, message: str, *info: tuple[str, str]) -> RpcError:
    """A protocol-layer error (RFC 6241 appendix A) with its error-info pairs."""
    return RpcError(tag, message, type=_PROTO, info=list(info))


def missing(name: str) -> RpcError:
    return perr(ErrorTag.MISSING_ELEMENT, f"missing parameter {name!r}", ("bad-element", name))


def no_url() -> RpcError:
    return perr(ErrorTag.OPERATION_NOT_SUPPORTED, ":url is not supported", ("bad-element", "url"))


def required(p: dict[str, etree._Element], name: str) -> etree._Element:
    if name not in p:
        raise missing(name)
    return p[name]


def text_param[T: str](p: dict[str, etree._Element], name: str, choices: tuple[T, ...]) -> T | None:
    """An enumerated parameter, typed as the choice it is (e.g. ``DefaultOperation``)."""
    el = p.get(name)
    if el is None:
        return None
    value = (el.text or "").strip()
    for choice in choices:
        if choice == value:
            return choice
    raise perr(
        ErrorTag.INVALID_VALUE,
        f"{name} must be one of {', '.join(choices)}, not {value!r}",
        ("bad-element", name),
    )


def datastore[T: str](param: etree._Element, allowed: tuple[T, ...]) -> T:
    """Decode ``<target>``/``<source>`` naming one of the ``allowed`` datastores."""
    found = datastore_or_config(param, allowed, config_ok=False)
    assert not isinstance(found, etree._Element)  # config_ok=False never returns one
    return found


def datastore_or_config[T: str](
    param: etree._Element, allowed: tuple[T, ...], *, config_ok: bool = True
) -> T | etree._Element:
    """Decode ``<target>``/``<source>``: a datastore name, or ``<config>`` where allowed."""
    role = etree.QName(param).localname
    kids = [c for c in param if isinstance(c.tag, str)]
    if not kids:
        raise missing(role)
    if len(kids) > 1:
        raise perr(
            ErrorTag.BAD_ELEMENT, f"<{role}> must name exactly one datastore", ("bad-element", role)
        )
    qn = etree.QName(kids[0])
    if qn.namespace != NC_NS:
        raise perr(
            ErrorTag.UNKNOWN_NAMESPACE,
            f"<{role}> child {qn.localname!r} is not in the NETCONF namespace",
            ("bad-element", qn.localname),
            ("bad-namespace", qn.namespace or ""),
        )
    if qn.localname == "url":
        raise no_url()
    if qn.localname == "config" and config_ok:
        return kids[0]
    for name in allowed:
        if name == qn.localname:
            return name
    raise perr(
        ErrorTag.BAD_ELEMENT,
        f"<{qn.localname}/> is not a valid {role} here (use one of {', '.join(allowed)})",
        ("bad-element", role),
    )


def apply_filter(
    data: etree._Element,
    flt: etree._Element | None,
    schema: Schema | None,
    max_cost: float | None = None,
) -> etree._Element:
    """RFC 6241 6 (subtree) and 8.9 (:xpath) filtering of a ``<data>`` tree, knowing the
    served ``schema`` (list keys kept, identities compared by identity); an XPath
    estimated to cost more than ``max_cost`` node visits is refused unevaluated."""
    if flt is None:
        return data
    ftype = flt.get("type", flt.get(_Q + "type", "subtree"))
    if ftype == "subtree":
        return filters.subtree_filter(data, flt, schema)
    if ftype == "xpath":
        select = flt.get("select", flt.get(_Q + "select"))
        if select is None:
            raise perr(
                ErrorTag.MISSING_ATTRIBUTE,
                "an xpath filter needs a select attribute",
                ("bad-attribute", "select"),
                ("bad-element", "filter"),
            )
        nsmap = {p: ns for p, ns in flt.nsmap.items() if p}
        return filters.xpath_filter(data, select, nsmap, schema, max_cost=max_cost)
    raise perr(
        ErrorTag.BAD_ATTRIBUTE,
        f"unknown filter type {ftype!r} (subtree or xpath)",
        ("bad-attribute", "type"),
        ("bad-element", "filter"),
    )


def merge_state(data: etree._Element, elements: list[etree._Element]) -> None:
    """Add protocol-level state (monitoring, streams) to a ``<data>`` tree.

    These trees are containers without keyed siblings, so merging by unique tag is
    exact; agent state with lists goes through the datastore, which knows the keys.
    """
    for el in elements:
        same = [c for c in data if c.tag == el.tag]
        if len(same) == 1 and len(el) and len(same[0]):
            merge_state(same[0], list(el))
        else:
            data.append(el)


# -- RFC 6241 operations ----------------------------------------------------------------

READ_DATASTORES: tuple[DatastoreName, ...] = ("running", "candidate", "startup")
_WRITABLE: tuple[DatastoreName, ...] = ("running", "candidate")
_STARTUP: tuple[DatastoreName, ...] = ("startup",)
_DEFAULT_OPERATIONS: tuple[DefaultOperation, ...] = ("merge", "replace", "none")
_TEST_OPTIONS: tuple[TestOption, ...] = ("test-then-set", "set", "test-only")
_ERROR_OPTIONS: tuple[ErrorOption, ...] = (
    "stop-on-error",
    "continue-on-error",
    "rollback-on-error",
)


def operational_data(core: ServerCore, *, protocol_state: bool = True) -> etree._Element:
    """The operational datastore: running merged with live state, as ``<get>`` sees it.

    ``protocol_state`` False leaves out the server's own trees (monitoring, streams,
    subscriptions) for callers that only select agent data (YANG-Push snapshots).
    """
    data = core.datastores.get()
    if protocol_state:
        merge_state(data, core.monitoring.state())
        for provider in core.state_providers:
            merge_state(data, provider.state())
    return data


async def op_edit_config(s: NetconfSession, op: etree._Element) -> Reply:
    """RFC 6241 7.2; the change is applied in the writer thread (issue 9)."""
    p = params(op, {"target", "default-operation", "test-option", "error-option", "config",
                    "url"})  # fmt: skip
    target = datastore(required(p, "target"), _WRITABLE)
    dflt = text_param(p, "default-operation", _DEFAULT_OPERATIONS) or "merge"
    test = text_param(p, "test-option", _TEST_OPTIONS) or "test-then-set"
    err = text_param(p, "error-option", _ERROR_OPTIONS) or "stop-on-error"
    if "url" in p:
        raise no_url()
    config = required(p, "config")
    # Group commit: the session syncs before it answers. Not for an edit in the writer
    # thread (offload): its sync, on the loop, would wait there for the writer lock
    # while a long edit of another session holds it.
    deferred = not s.core.fairness.options.offload
    changes = await s.core.fairness.write(
        s,
        lambda: s.core.datastores.edit_config(
            target,
            config,
            session_id=s.session_id,
            default_operation=dflt,
            test_option=test,
            error_option=err,
            durable=not deferred,
            adopt=True,  # the request was parsed for this edit alone
        ),
    )
    if target == "running" and test != "test-only" and changes:
        if deferred:
            s.deferred_write()
        if s.core.emit_config_changes:
            s.core.hub.config_changed(changes, s.session_id)
    return None


async def op_copy_config(s: NetconfSession, op: etree._Element) -> Reply:
    p = params(op, {"target", "source"})
    target = datastore(required(p, "target"), READ_DATASTORES)
    source = datastore_or_config(required(p, "source"), READ_DATASTORES)
    await s.core.fairness.write(
        s, lambda: s.core.datastores.copy_config(target, source, session_id=s.session_id)
    )
    return None


def op_delete_config(s: NetconfSession, op: etree._Element) -> Reply:
    p = params(op, {"target"})
    target = datastore(required(p, "target"), _STARTUP)
    s.core.datastores.delete_config(target, session_id=s.session_id)
    return None


def op_lock(s: NetconfSession, op: etree._Element) -> Reply:
    p = params(op, {"target"})
    target = datastore(required(p, "target"), READ_DATASTORES)
    s.core.datastores.lock(target, session_id=s.session_id)
    s.core.monitoring.lock_acquired(target, s.session_id)
    return None


def op_unlock(s: NetconfSession, op: etree._Element) -> Reply:
    p = params(op, {"target"})
    target = datastore(required(p, "target"), READ_DATASTORES)
    s.core.datastores.unlock(target, session_id=s.session_id)
    s.core.monitoring.lock_released(target)
    return None


def op_commit(s: NetconfSession, op: etree._Element) -> Reply:
    params(op, set())  # no :confirmed-commit, so no parameters
    changes = s.core.datastores.commit(session_id=s.session_id)
    if changes and s.core.emit_config_changes:
        s.core.hub.config_changed(changes, s.session_id)
    return None


def op_discard_changes(s: NetconfSession, op: etree._Element) -> Reply:
    params(op, set())
    s.core.datastores.discard_changes(session_id=s.session_id)
    return None


async def op_validate(s: NetconfSession, op: etree._Element) -> Reply:
    p = params(op, {"source"})
    source = datastore_or_config(required(p, "source"), READ_DATASTORES)
    await s.core.fairness.write(s, lambda: s.core.datastores.validate(source))
    return None


def op_close_session(s: NetconfSession, op: etree._Element) -> Reply:
    params(op, set())
    s.close_after_reply()
    return None


def op_kill_session(s: NetconfSession, op: etree._Element) -> Reply:
    p = params(op, {"session-id"})
    raw = (required(p, "session-id").text or "").strip()
    sid = int(raw) if raw.isdigit() else 0
    problem = (
        f"session-id must be a positive integer, not {raw!r}" if sid == 0
        else "a session cannot kill itself: use <close-session>" if sid == s.session_id
        else f"no session {sid}" if sid not in s.core.sessions
        else None
    )  # fmt: skip
    if problem:
        raise perr(ErrorTag.INVALID_VALUE, problem, ("bad-element", "session-id"))
    s.core.sessions[sid].close("killed", killed_by=s.session_id)
    return None


# -- RFC 6022 ---------------------------------------------------------------------------


def op_get_schema(s: NetconfSession, op: etree._Element) -> Reply:
    p = params(op, {"identifier", "version", "format"}, ns=NCM_NS)
    ident = (required(p, "identifier").text or "").strip()
    version = (p["version"].text or "").strip() if "version" in p else None
    fmt = None
    if "format" in p:
        fmt_el = p["format"]
        raw = (fmt_el.text or "").strip()
        prefix, _, local = raw.rpartition(":")
        if prefix and fmt_el.nsmap.get(prefix) not in (NCM_NS, None):
            local = raw  # a foreign identity: not one of ours
        fmt = local
    mod = s.core.monitoring.find_schema(ident, version, fmt)
    data = etree.Element(f"{{{NCM_NS}}}data", nsmap={None: NCM_NS})
    data.text = mod.path.read_text(encoding="utf-8")
    return [data]
