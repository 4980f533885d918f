"""What the console's forms and buttons send, checked before anything is sent.

A unit is created with the same edit-config ``qnms request`` sends (``UnitRequest``),
with the further QoS objectives of ``qnms-service`` the form offers. Form input that is
not even of the right kind (a name missing, a fidelity that is not a number) is refused
here with the field named, and nothing reaches the northbound; everything else the
orchestrator judges, and its rpc-error is shown as it says it (tag, app-tag, path,
message): the console does not second-guess admission.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from ncclient.operations import RPCError

from qnms.app.northbound import SVC, UnitRequest, error_text

FAULTS = ("channel-cut", "channel-restored")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_URN = re.compile(r"^urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:\S+$", re.IGNORECASE)
_IDENTITY = re.compile(r"^[a-z][a-z0-9-]{0,63}$")  # a qnms-types identity name
# further QoS leaves of qnms-service the form offers: form field -> (path under qos, kind)
EXTRA_QOS: dict[str, tuple[str, str]] = {
    "success-probability": ("success-probability", "probability"),
    "establishment-latency": ("establishment-latency", "number"),
    "quantum-communication-latency": ("quantum-communication-latency", "number"),
    "time-to-live": ("time-to-live", "number"),
    "coherence-window": ("coherence-window", "number"),
    "memories-per-node": ("memory-constraints/memories-per-node", "count"),
    "classical-assist-max-latency": ("classical-assist/max-latency", "number"),
    "classical-assist-min-reliability": ("classical-assist/min-reliability", "probability"),
}


class FormError(ValueError):
    """Bad form input: ``field`` names the form field (HTTP 400, nothing sent)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ConsoleUnit:
    """``UnitRequest`` plus the QoS leaves it does not carry itself."""

    request: UnitRequest
    extra_qos: dict[str, str] = field(default_factory=dict)  # path under qos -> value

    def config(self) -> etree._Element:
        cfg = self.request.config()
        qos = cfg.find(f".//{{{SVC}}}qos")
        assert qos is not None
        for path, value in self.extra_qos.items():
            parent = qos
            for step in path.split("/"):
                found = parent.find(f"{{{SVC}}}{step}")
                parent = (
                    found if found is not None else etree.SubElement(parent, f"{{{SVC}}}{step}")
                )
            parent.text = value
        return cfg


def create_unit(m: Any, unit: ConsoleUnit) -> None:
    """One edit-config on running, as ``qnms request`` sends it; RPCError if refused."""
    m.edit_config(target="running", config=unit.config())


def _number(form: Mapping[str, str], name: str, kind: str) -> str | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw) if kind == "count" else float(raw)
    except ValueError:
        raise FormError(name, f"{raw!r} is not a number") from None
    if value < 0 or (kind == "probability" and value > 1):
        bound = "between 0 and 1" if kind == "probability" else "0 or more"
        raise FormError(name, f"{raw} is out of range: {bound}")
    return raw


def unit_from_form(form: Mapping[str, str], now: float | None = None) -> ConsoleUnit:
    """The unit a create form asks for; FormError names the first bad field."""
    name = (form.get("name") or "").strip()
    if not _NAME.match(name):
        raise FormError("name", "1-64 letters, digits, '.', '_' or '-', starting alphanumeric")
    originator = (form.get("originator") or "").strip()
    if not _URN.match(originator):
        raise FormError("originator", f"{originator!r} is not a URN (urn:<nid>:<nss>)")
    others = [u.strip() for u in re.split(r"[\s,]+", form.get("endpoints") or "") if u.strip()]
    if not others:
        raise FormError("endpoints", "at least one other endpoint URN")
    for urn in others:
        if not _URN.match(urn):
            raise FormError("endpoints", f"{urn!r} is not a URN (urn:<nid>:<nss>)")
    service_type = (form.get("service-type") or "bipartite-entanglement").strip()
    if not _IDENTITY.match(service_type):
        raise FormError("service-type", f"{service_type!r} is not a service type identity")
    size = _number(form, "size", "count") or "10"
    if int(size) < 1:
        raise FormError("size", "at least 1")
    valid_for = _number(form, "valid-for", "count") or "3600"
    fidelity = _number(form, "target-fidelity", "probability")
    rate = _number(form, "generation-rate", "number")
    depth = _number(form, "swapping-depth-cap", "count")
    if depth is not None and int(depth) > 255:
        raise FormError("swapping-depth-cap", f"{depth} is out of range: 0..255")
    purification = (form.get("purification-allowed") or "").strip().lower()
    if purification not in ("", "true", "false"):
        raise FormError("purification-allowed", "true or false")
    request = UnitRequest(
        name=name,
        originator=originator,
        endpoints=(originator, *(u for u in others if u != originator)),
        size=int(size),
        valid_until=int((now or time.time()) + int(valid_for)),
        service_type=service_type,
        target_fidelity=float(fidelity) if fidelity is not None else None,
        swapping_depth_cap=int(depth) if depth is not None else None,
        purification_allowed=None if not purification else purification == "true",
        generation_rate=float(rate) if rate is not None else None,
    )
    extra = {}
    for form_field, (path, kind) in EXTRA_QOS.items():
        value = _number(form, form_field, kind)
        if value is not None:
            extra[path] = value
    return ConsoleUnit(request, extra)


def rpc_error_json(err: RPCError) -> dict[str, Any]:
    """An rpc-error as the page and API callers get it: every field, as the server said."""
    xml = getattr(err, "xml", None)
    nc = "urn:ietf:params:xml:ns:netconf:base:1.0"

    def field_of(name: str) -> str:
        el = xml.find(f"{{{nc}}}{name}") if xml is not None else None
        return (el.text or "").strip() if el is not None else ""

    return {
        "error": "rpc-error",
        "error-type": err.type or field_of("error-type"),
        "error-tag": err.tag or field_of("error-tag"),
        "error-app-tag": field_of("error-app-tag"),
        "error-path": (err.path or field_of("error-path")).strip(),
        "error-message": err.message or field_of("error-message"),
        "text": error_text(err),
    }
