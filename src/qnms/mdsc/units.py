"""The parent's units: which domains a request is for, and what their state shows.

Admission needs no network: both endpoints must be registered applications'
endpoints whose URN names a domain this parent manages, the originator's application
must allow the service type, the lifetime must not be over (``check_request``, the
orchestrator's own rule). The published state of a stitched unit leaves out the
measured leaves the parent cannot know from segment estimates.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from lxml import etree

from qnms.mdsc.routing import domain_of
from qnms.orchestrator.admission import Refusal, check_request
from qnms.orchestrator.intent import SVC, Application, ServiceIntent
from qnms.orchestrator.lifecycle import UnitRecord, unit_state_element
from qnms.yang.errors import ErrorTag


def route(
    intent: ServiceIntent, apps: Mapping[str, Application], domains: Sequence[str]
) -> tuple[str, str]:
    """(head domain, tail domain) of an admissible unit, or raise ``Refusal``."""
    name = intent.name
    if len(intent.endpoints) != 2:
        raise Refusal(
            "multipartite-not-supported",
            f"{len(intent.endpoints)} endpoints: only bipartite units",
            name,
            "endpoint",
            ErrorTag.INVALID_VALUE,
        )
    found = []
    for urn in intent.endpoints:
        where = f"endpoint[urn='{urn}']/urn"
        if urn not in apps:
            raise Refusal(
                "unknown-endpoint",
                f"endpoint {urn!r} is not the endpoint of any registered application",
                name,
                where,
                ErrorTag.INVALID_VALUE,
            )
        domain = domain_of(urn, domains)
        if domain is None:
            known = ", ".join(domains)
            raise Refusal(
                "unknown-domain",
                f"endpoint {urn!r} belongs to no domain this parent manages ({known})",
                name,
                where,
                ErrorTag.INVALID_VALUE,
            )
        found.append(domain)
    check_request(intent, apps[intent.originator], time.time())
    return found[0], found[1]


# what a stitched unit's estimate does not know (the parent sees segment estimates only)
UNKNOWN_ACROSS = ("success-probability", "quantum-communication-latency", "loss")


def unit_state(rec: UnitRecord) -> etree._Element:
    """A unit's state; for a stitched one without the measured leaves it cannot know."""
    el = unit_state_element(rec)
    measured = el.find(f"{{{SVC}}}qos/{{{SVC}}}measured")
    if measured is not None and len(rec.quis) > 1:
        for leaf in UNKNOWN_ACROSS:
            for found in measured.findall(f"{{{SVC}}}{leaf}"):
                measured.remove(found)
    return el
