"""A change to configuration data, as RFC 6470 reports it.

Computed where trees are compared (``qnms.yang.tree``), carried by the datastore layer
to its listeners, rendered by the NETCONF core as ``netconf-config-change``
notifications and audited: one value type for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class ConfigChange:
    """One edit as reported in an RFC 6470 ``netconf-config-change`` notification."""

    target: str  # instance-identifier of the changed node
    operation: Literal["create", "delete", "merge", "replace", "remove"]
    nsmap: dict[str, str] = field(default_factory=dict)
