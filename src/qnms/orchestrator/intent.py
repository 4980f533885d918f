"""Service-unit intents and registered applications, read from the northbound datastore.

The northbound running datastore (qnms-service) is where intent lives: what an
application asked for (seed 5.4 step 1). The controller reads it into these typed
values once, at the edge, so admission, path computation and allocation never look at
XML. ``fingerprint`` is the canonical form of the intent's configuration: an edit that
changes it for an existing unit is a change of intent, not a re-send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from qnms.orchestrator.paths import DEFAULT_MAX_ROUNDS, PathRequirements

SVC = "urn:qnms:yang:qnms-service"
_N = {"s": SVC}


def unit_path(name: str, leaf: str = "") -> str:
    """Instance-identifier of a unit (or one of its descendants) for ``error-path``;
    ``leaf`` is a relative path without prefixes (``endpoint[urn='x']/urn``)."""
    base = f"/svc:service-units/svc:service-unit[svc:name='{name}']"
    steps = re.split(r"/(?![^\[]*\])", leaf)  # slashes inside key values stay
    return base + "".join(
        "/svc:" + re.sub(r"\[(\w[\w-]*)=", r"[svc:\1=", step) for step in steps if step
    )


PATH_NS = {"svc": SVC}


def _text(el: etree._Element, path: str) -> str | None:
    found = el.find("/".join(f"s:{p}" for p in path.split("/")), _N)
    return found.text.strip() if found is not None and found.text is not None else None


def _num(el: etree._Element, path: str) -> float | None:
    t = _text(el, path)
    return float(t) if t is not None else None


def _local(identity: str | None) -> str:
    return (identity or "").rpartition(":")[2]


@dataclass(frozen=True)
class Application:
    """A registered application (qnms-service applications/application)."""

    name: str
    endpoint: str
    attached_to: str | None
    allowed_service_types: frozenset[str]
    rate: float
    burst: int
    owner: str | None = None


@dataclass(frozen=True)
class Policy:
    """The unit's closed-loop and activation settings (qnms-service ``restoration`` and
    ``activation``): changeable in place, so they are not part of the fingerprint."""

    automatic: bool = True
    hold_off_s: float = 0.0
    on_demand: bool = False
    activate: bool = False


@dataclass(frozen=True)
class ServiceIntent:
    """One service unit as requested: identity, lifecycle and QoS objectives."""

    name: str
    service_type: str  # identity local name, e.g. bipartite-entanglement
    originator: str
    endpoints: tuple[str, ...]
    size: int
    valid_until: int
    lifecycle_fidelity: float | None
    requirements: PathRequirements
    time_to_live_s: float | None = None
    coherence_window_ms: float | None = None
    fingerprint: str = field(default="", compare=False)
    policy: Policy = field(default=Policy(), compare=False)


def read_applications(data: etree._Element) -> dict[str, Application]:
    """{endpoint URN: application} from a ``<data>`` tree of qnms-service."""
    out: dict[str, Application] = {}
    for app in data.findall("s:applications/s:application", _N):
        endpoint = _text(app, "endpoint") or ""
        out[endpoint] = Application(
            name=_text(app, "name") or "",
            endpoint=endpoint,
            attached_to=_text(app, "attached-to"),
            allowed_service_types=frozenset(
                _local(t.text) for t in app.findall("s:allowed-service-type", _N)
            ),
            rate=_num(app, "token-bucket/rate") or 0.0,
            burst=int(_num(app, "token-bucket/burst") or 1),
            owner=_text(app, "owner"),
        )
    return out


_SEEN: dict[bytes, ServiceIntent] = {}
_SEEN_MAX = 8192


def read_units(data: etree._Element) -> dict[str, ServiceIntent]:
    """{name: intent} of every service unit in a ``<data>`` tree of qnms-service.

    Every edit reads every unit of running a few times (admission, sync, tenancy), so
    intents are remembered by the unit's serialised XML (serialising is C, reading
    is not): an unchanged unit is not read again, and an edit costs what it changes.
    """
    out: dict[str, ServiceIntent] = {}
    for unit in data.findall("s:service-units/s:service-unit", _N):
        key = etree.tostring(unit, with_tail=False)
        intent = _SEEN.get(key)
        if intent is None:
            if len(_SEEN) >= _SEEN_MAX:
                _SEEN.clear()
            intent = _SEEN[key] = read_intent(unit)
        out[intent.name] = intent
    return out


def read_intent(unit: etree._Element) -> ServiceIntent:
    q = "qos/"
    allowed_rounds = _num(unit, q + "purification/max-rounds")
    req = PathRequirements(
        target_fidelity=_num(unit, q + "target-fidelity"),
        min_rate=_num(unit, q + "generation-rate"),
        min_success=_num(unit, q + "success-probability"),
        max_establishment_ms=_num(unit, q + "establishment-latency"),
        max_classical_ms=_num(unit, q + "classical-assist/max-latency"),
        min_reliability=_num(unit, q + "classical-assist/min-reliability"),
        swapping_depth_cap=(
            int(v) if (v := _num(unit, q + "swapping-depth-cap")) is not None else None
        ),
        memories_per_node=int(_num(unit, q + "memory-constraints/memories-per-node") or 1),
        min_coherence_s=_num(unit, q + "memory-constraints/min-coherence-time"),
        purification_allowed=_text(unit, q + "purification/allowed") != "false",
        max_rounds=int(allowed_rounds) if allowed_rounds is not None else DEFAULT_MAX_ROUNDS,
        allowed_technologies=frozenset(
            _local(t.text) for t in unit.findall("s:qos/s:constraints/s:allowed-technology", _N)
        ),
        allowed_domains=frozenset(
            (t.text or "").strip() for t in unit.findall("s:qos/s:constraints/s:allowed-domain", _N)
        ),
    )
    config = etree.fromstring(etree.tostring(unit))
    for el in list(config.iter()):
        parent = el.getparent()
        if parent is not None and el.tag in (
            f"{{{SVC}}}measured",
            f"{{{SVC}}}rounds",
            f"{{{SVC}}}pairs-consumed",
            f"{{{SVC}}}restoration",
            f"{{{SVC}}}activation",
        ):
            parent.remove(el)
    return ServiceIntent(
        name=_text(unit, "name") or "",
        service_type=_local(_text(unit, "service-type")),
        originator=_text(unit, "originator") or "",
        endpoints=tuple((e.text or "").strip() for e in unit.findall("s:endpoint/s:urn", _N)),
        size=int(_num(unit, "lifecycle/size") or 0),
        valid_until=int(_num(unit, "lifecycle/valid-until") or 0),
        lifecycle_fidelity=_num(unit, "lifecycle/fidelity"),
        requirements=req,
        time_to_live_s=_num(unit, q + "time-to-live"),
        coherence_window_ms=_num(unit, q + "coherence-window"),
        fingerprint=etree.tostring(config, method="c14n").decode(),
        policy=Policy(
            automatic=_text(unit, "restoration/mode") != "manual",
            hold_off_s=(_num(unit, "restoration/hold-off") or 0.0) / 1000,
            on_demand=_text(unit, "activation/mode") == "on-demand",
            activate=_text(unit, "activation/activate") == "true",
        ),
    )
