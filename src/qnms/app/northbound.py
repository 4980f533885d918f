"""The northbound client: what `qnms request`, `status`, `watch` and the demo send.

Everything here speaks plain NETCONF (RFC 6241 over SSH, through ncclient) to the
orchestrator's ``qnms-service`` model, exactly as any application or operator tool
would: one edit-config creates a service unit, ``<get>`` reads its state, RFC 8641
on-change subscriptions and the RFC 8639 event stream follow it. Nothing reaches into
the orchestrator's internals, so these commands work against any orchestrator that
serves the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import ncclient.transport.session
from lxml import etree
from ncclient import manager
from ncclient.operations import RPCError
from ncclient.xml_ import to_ele

SVC = "urn:qnms:yang:qnms-service"
QT = "urn:qnms:yang:qnms-types"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
SN = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
YP = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
TERMINAL = ("active", "failed", "expired", "released", "degraded")

# ncclient polls its session every TICK seconds (0.1 by default): 100 ms per RPC.
ncclient.transport.session.TICK = 0.005


@dataclass(frozen=True)
class Login:
    """Where the orchestrator's northbound listens and who we are there."""

    host: str
    port: int
    user: str
    password: str


@dataclass(frozen=True)
class UnitRequest:
    """A service unit as an application asks for it (qnms-service, seed 5.3)."""

    name: str
    originator: str
    endpoints: tuple[str, ...]
    size: int
    valid_until: int
    service_type: str = "bipartite-entanglement"
    target_fidelity: float | None = None
    swapping_depth_cap: int | None = None
    purification_allowed: bool | None = None
    generation_rate: float | None = None  # pairs/s, or key bits/s for qkd-key

    def config(self) -> etree._Element:
        """The ``<config>`` of the edit-config that creates the unit."""
        q = f"{{{SVC}}}"
        cfg = etree.Element(f"{{{NC}}}config", nsmap={None: NC})
        units = etree.SubElement(cfg, q + "service-units", nsmap={None: SVC})
        unit = etree.SubElement(units, q + "service-unit")
        etree.SubElement(unit, q + "name").text = self.name
        stype = etree.SubElement(unit, q + "service-type", nsmap={"qt": QT})
        stype.text = f"qt:{self.service_type}"
        etree.SubElement(unit, q + "originator").text = self.originator
        for urn in self.endpoints:
            etree.SubElement(etree.SubElement(unit, q + "endpoint"), q + "urn").text = urn
        life = etree.SubElement(unit, q + "lifecycle")
        etree.SubElement(life, q + "size").text = str(self.size)
        etree.SubElement(life, q + "valid-until").text = str(self.valid_until)
        qos = etree.SubElement(unit, q + "qos")
        if self.target_fidelity is not None:
            etree.SubElement(qos, q + "target-fidelity").text = f"{self.target_fidelity:g}"
        if self.generation_rate is not None:
            etree.SubElement(qos, q + "generation-rate").text = f"{self.generation_rate:g}"
        if self.swapping_depth_cap is not None:
            etree.SubElement(qos, q + "swapping-depth-cap").text = str(self.swapping_depth_cap)
        if self.purification_allowed is not None:
            pur = etree.SubElement(qos, q + "purification")
            etree.SubElement(pur, q + "allowed").text = str(self.purification_allowed).lower()
        return cfg


@dataclass
class UnitStatus:
    """What ``<get>`` tells of one service unit (its config-false state)."""

    name: str
    state: str = ""
    failure_reason: str = ""
    identifier: list[str] = field(default_factory=list)
    path: list[str] = field(default_factory=list)
    quis: list[tuple[str, str]] = field(default_factory=list)  # (domain, id)
    delivered: int = 0
    target_fidelity: float | None = None
    achieved_fidelity: float | None = None
    estimated_fidelity: float | None = None
    establishment_latency_ms: float | None = None
    requested: str = ""
    activated: str = ""


@contextmanager
def connect(login: Login, *, timeout: float = 30) -> Iterator[manager.Manager]:
    """An ncclient session to the northbound (loopback demo: no host key pinning)."""
    m = manager.connect(
        host=login.host,
        port=login.port,
        username=login.user,
        password=login.password,
        hostkey_verify=False,
        allow_agent=False,
        look_for_keys=False,
        timeout=timeout,
    )
    try:
        yield m
    finally:
        m.close_session()


def request_unit(m: manager.Manager, unit: UnitRequest) -> None:
    """Create the unit with one edit-config on running; an rpc-error raises RPCError."""
    m.edit_config(target="running", config=unit.config())


def delete_unit(m: manager.Manager, name: str) -> None:
    cfg = (
        f'<config xmlns="{NC}"><service-units xmlns="{SVC}"><service-unit '
        f'xmlns:nc="{NC}" nc:operation="delete"><name>{name}</name></service-unit>'
        f"</service-units></config>"
    )
    m.edit_config(target="running", config=to_ele(cfg))


def read_units(m: manager.Manager, name: str | None = None) -> list[UnitStatus]:
    """Every service unit this user may see (NACM prunes the others), or one by name."""
    sel = f"<name>{name}</name>" if name else ""
    flt = f'<service-units xmlns="{SVC}"><service-unit>{sel}</service-unit></service-units>'
    reply = m.get(filter=("subtree", flt))
    root = to_ele(reply.data_xml) if hasattr(reply, "data_xml") else reply.data_ele
    return [_status(el) for el in root.iter(f"{{{SVC}}}service-unit")]


def wait_for(
    m: manager.Manager,
    names: Sequence[str],
    *,
    timeout: float,
    states: Sequence[str] = TERMINAL,
    on_change: Callable[[UnitStatus], None] | None = None,
    interval: float = 0.2,
) -> dict[str, UnitStatus]:
    """Poll ``<get>`` until every unit is in one of ``states`` (or the deadline passes),
    telling ``on_change`` of each state transition seen on the way."""
    seen: dict[str, UnitStatus] = {}
    deadline = time.monotonic() + timeout
    while True:
        for st in read_units(m):
            if st.name not in names:
                continue
            changed = st.name not in seen or seen[st.name].state != st.state
            if changed and on_change is not None:
                on_change(st)
            seen[st.name] = st
        if all(n in seen and seen[n].state in states for n in names):
            return seen
        if time.monotonic() > deadline:
            return seen
        time.sleep(interval)


def subscribe_units(m: manager.Manager, *, dampening_cs: int = 0) -> None:
    """RFC 8641 on-change subscription to the service units' state (push-update, then
    push-change-update); the notifications arrive through ``m.take_notification``."""
    m.dispatch(
        to_ele(
            f"""<establish-subscription xmlns="{SN}" xmlns:yp="{YP}"
                xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores">
              <yp:datastore>ds:operational</yp:datastore>
              <yp:datastore-subtree-filter>
                <service-units xmlns="{SVC}"/>
              </yp:datastore-subtree-filter>
              <yp:on-change><yp:dampening-period>{dampening_cs}</yp:dampening-period></yp:on-change>
            </establish-subscription>"""
        )
    )


def subscribe_events(m: manager.Manager) -> None:
    """RFC 8639 subscription to the NETCONF stream: service-unit-state-change events."""
    body = f'<establish-subscription xmlns="{SN}"><stream>NETCONF</stream></establish-subscription>'
    m.dispatch(to_ele(body))


def error_text(err: RPCError) -> str:
    """An rpc-error as a user reads it: tag, app-tag, path and message."""
    parts = [err.tag or "error"]
    app_tag = _error_field(err, "error-app-tag")
    if app_tag:
        parts.append(app_tag)
    path = err.path or _error_field(err, "error-path")
    text = " ".join(parts)
    where = f" at {path.strip()}" if path else ""
    return f"{text}{where}: {err.message or ''}".strip()


def _error_field(err: RPCError, name: str) -> str:
    xml = getattr(err, "xml", None)
    if xml is None:
        return ""
    el = xml.find(f"{{{NC}}}{name}")
    return (el.text or "").strip() if el is not None else ""


def _text(el: etree._Element | None, path: str) -> str:
    if el is None:
        return ""
    found = el.find(path, {"s": SVC})
    return (found.text or "").strip() if found is not None else ""


def _float(text: str) -> float | None:
    return float(text) if text else None


def _status(el: etree._Element) -> UnitStatus:
    ns = {"s": SVC}
    return UnitStatus(
        name=_text(el, "s:name"),
        state=_text(el, "s:state"),
        failure_reason=_text(el, "s:failure-reason"),
        identifier=[(u.text or "") for u in el.findall("s:identifier/s:urn", ns)],
        path=[
            _text(h, "s:node")
            for h in sorted(
                el.findall("s:path/s:hop", ns), key=lambda h: int(_text(h, "s:index") or 0)
            )
        ],
        quis=[(_text(q, "s:domain"), _text(q, "s:id")) for q in el.findall("s:qui", ns)],
        delivered=int(_text(el, "s:delivery/s:delivered-units") or 0),
        target_fidelity=_float(_text(el, "s:qos/s:target-fidelity")),
        achieved_fidelity=_float(_text(el, "s:qos/s:measured/s:achieved-fidelity")),
        estimated_fidelity=_float(_text(el, "s:qos/s:measured/s:estimated-fidelity")),
        establishment_latency_ms=_float(_text(el, "s:qos/s:measured/s:establishment-latency")),
        requested=_text(el, "s:timestamps/s:requested"),
        activated=_text(el, "s:timestamps/s:activated"),
    )


def format_table(units: Sequence[UnitStatus]) -> list[str]:
    """The table `qnms status` prints: one line per unit."""
    head = f"{'unit':<16} {'state':<13} {'delivered':>9} {'F target':>8} {'F achieved':>10}  path"
    lines = [head, "-" * len(head)]
    for u in units:
        tgt = f"{u.target_fidelity:.3f}" if u.target_fidelity is not None else "-"
        got = f"{u.achieved_fidelity:.3f}" if u.achieved_fidelity is not None else "-"
        lines.append(
            f"{u.name:<16} {u.state:<13} {u.delivered:>9} {tgt:>8} {got:>10}  "
            + (" > ".join(u.path) or "-")
        )
        if u.failure_reason:
            lines.append(f"{'':<16} reason: {u.failure_reason}")
    return lines
