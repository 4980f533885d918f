"""What both ends of the QNDT bus share: addresses, topics, requests and replies.

The catalogue itself is in bus.py. This module is the light half of the bus: agents
and the orchestrator talk to the twin through it and client.py, so it must never import
the engine, SeQUeNCe or numpy (a NETCONF agent per node cannot pay ~150 MB and 2.5 s
for a simulator it does not run; see STACK-NOTES, "SeQUeNCe 1.3.1").

A malformed or unknown request must get an error reply and change nothing, so every
request is checked completely here before the engine touches SeQUeNCe.

Timing fields of results (simulated seconds; the catalogue of bus.py refers here):

* ``latency`` (``pair-delivered``) and ``mean-latency`` (``allocation-state``, batch
  reports): per-pair latency, from the allocation's start (first pair) or the previous
  delivery of the same allocation (later pairs) to this delivery;
* ``establishment-latency``: from the allocation's start to its first delivered pair
  (None until then);
* ``sim-time`` (every result) and ``last-delivery`` / ``deliveries`` (batch reports): the
  delivery timestamps themselves, on the twin's simulated clock;
* ``model``: the generation model that produced the numbers, ``full`` (every photon
  simulated) or ``link`` (heralded generation sampled, see qndt/linktier.py).
"""

from __future__ import annotations

import math
from typing import Any

VERSION = 1
TOPIC_PREFIX = "qndt.v1."
DEFAULT_BIND = "tcp://127.0.0.1:5555"
REQUEST_TYPES = ("allocate", "release", "consume", "fault", "query")
FAULTS = ("node-down", "node-up", "channel-cut", "channel-restored", "memory-degraded")
QUERIES = ("status", "allocation", "telemetry")
MODELS = ("full", "link")  # generation models (qndt/linktier.py); link is the default


def endpoints(bind: str) -> tuple[str, str]:
    """(results PUB, requests ROUTER) endpoints derived from one ``--bind`` address."""
    if bind.startswith("tcp://"):
        host, _, port = bind[6:].rpartition(":")
        return f"tcp://{host}:{int(port)}", f"tcp://{host}:{int(port) + 1}"
    if bind.startswith("ipc://") or bind.startswith("inproc://"):
        return f"{bind}.pub", f"{bind}.req"
    raise ValueError(f"unsupported bind address {bind!r} (tcp:// or ipc://)")


def topic(kind: str, name: str = "") -> str:
    """A full bus topic, e.g. ``topic("alloc", "su-1")`` is ``qndt.v1.alloc.su-1``."""
    return f"{TOPIC_PREFIX}{kind}.{name}" if name else f"{TOPIC_PREFIX}{kind}"


class RequestError(ValueError):
    """A request that cannot be accepted; ``code`` is machine readable."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code


def _num(
    req: dict[str, Any],
    key: str,
    lo: float,
    hi: float = math.inf,
    integer: bool = False,
    required: bool = False,
) -> None:
    if key not in req or req[key] is None:
        if required:
            raise RequestError("missing-field", f"{key} is required")
        return
    value = req[key]
    if isinstance(value, str):  # RFC 7951 decimal64 / uint64 arrive as strings
        try:
            value = float(value)
        except ValueError:
            raise RequestError("bad-value", f"{key} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise RequestError("bad-value", f"{key} is not a number")
    if not lo <= value <= hi:
        raise RequestError("bad-value", f"{key}={value} out of range [{lo}, {hi}]")
    if integer:
        if value != int(value):
            raise RequestError("bad-value", f"{key} must be an integer")
        value = int(value)
    req[key] = value


def _name(req: dict[str, Any], key: str, required: bool = True) -> None:
    value = req.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value or len(value) > 128:
        raise RequestError(
            "bad-value" if key in req else "missing-field", f"{key}: a name is required"
        )


def validate_request(raw: Any) -> dict[str, Any]:
    """Check a decoded request and return a normalised copy (numbers as numbers)."""
    if not isinstance(raw, dict):
        raise RequestError("malformed", "a request is a JSON object")
    req = dict(raw)
    if req.get("v", VERSION) != VERSION:
        raise RequestError("unsupported-version", f"version {req.get('v')} is not supported")
    kind = req.get("type")
    if kind not in REQUEST_TYPES:
        raise RequestError("unknown-type", f"unknown request type {kind!r}")
    _num(req, "at", 0.0)
    if kind == "allocate":
        _name(req, "allocation")
        path = req.get("path")
        if not isinstance(path, list) or not all(isinstance(p, str) and p for p in path):
            raise RequestError("bad-path", "path is a list of node names")
        _num(req, "memories", 1, 1024, integer=True)
        _num(req, "pairs", 0, 2**63, integer=True)
        _num(req, "target-fidelity", 0.0, 1.0)
        _num(req, "start", 0.0)
        _num(req, "end", 0.0)
        _num(req, "duration", 0.0)
        _num(req, "max-swaps", 0, 1024, integer=True)
        for flag in ("purification", "hold"):
            if flag in req and not isinstance(req[flag], bool):
                raise RequestError("bad-value", f"{flag} is a boolean")
        if req.get("end") is None and req.get("duration") is None:
            raise RequestError("missing-field", "end or duration is required")
    elif kind in ("release", "consume"):
        _name(req, "allocation")
        _num(req, "pair", 0, 2**63, integer=True)
    elif kind == "fault":
        if req.get("fault") not in FAULTS:
            raise RequestError("unknown-fault", f"fault is one of {', '.join(FAULTS)}")
        if req["fault"].startswith("node") or req["fault"] == "memory-degraded":
            _name(req, "node")
        if req["fault"].startswith("channel"):
            _name(req, "channel")
        if req["fault"] == "memory-degraded":
            _name(req, "memory")
            _num(req, "raw-fidelity", 0.0, 1.0)
            _num(req, "efficiency", 0.0, 1.0)
            _num(req, "coherence-time", 0.0)
            _num(req, "frequency", 0.0)
    elif kind == "query":
        if req.get("what", "status") not in QUERIES:
            raise RequestError("unknown-query", f"what is one of {', '.join(QUERIES)}")
        if req.get("what") == "allocation":
            _name(req, "allocation")
    return req


def ok_reply(req: dict[str, Any], **body: Any) -> dict[str, Any]:
    """Successful reply, echoing the client's correlation ``id``."""
    return {
        "v": VERSION,
        "type": "reply",
        "ok": True,
        "id": req.get("id"),
        "request": req.get("type"),
        **body,
    }


def error_reply(req: Any, code: str, text: str) -> dict[str, Any]:
    """Error reply; the engine state is unchanged."""
    rid = req.get("id") if isinstance(req, dict) else None
    kind = req.get("type") if isinstance(req, dict) else None
    return {
        "v": VERSION,
        "type": "reply",
        "ok": False,
        "id": rid,
        "request": kind,
        "error": {"code": code, "message": text},
    }
