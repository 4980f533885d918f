"""URN prefix routing: which domain an endpoint belongs to (seed 5.3.2).

Endpoint URNs name their administrative domain right after the namespace identifier:
``urn:qkd:madqci:ccips`` belongs to madqci. Identifiers are not routable inside a
domain (seed 5.3.3), but this prefix is what a parent needs to know which domain
orchestrator to ask.
"""

from __future__ import annotations

from collections.abc import Collection

from qnms.service.urn import Urn, UrnError


def domain_of(urn: str, domains: Collection[str]) -> str | None:
    """The domain of ``urn`` among ``domains`` (None: not a URN, or no such domain)."""
    try:
        parsed = Urn.parse(urn)
    except UrnError:
        return None
    label = parsed.nss.split(":", 1)[0]
    return label if label in domains else None
