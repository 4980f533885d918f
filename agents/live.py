"""Live (config false) state shared by the agents of every stratum.

Until the QNDT engine feeds an agent, its state is still real: derived from what the
agent was told (its running configuration), from the passage of time (QUI age and
expiry, token-bucket refill) and from counters that emulation results increment. It is
never canned: change the configuration and the state follows.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from lxml import etree

Clock = Callable[[], float]


class LiveState(Protocol):
    """What an agent needs of its stratum's live state (QfsState, SsState, CsState)."""

    def state(self) -> list[etree._Element]:
        """The config-false data, merged into ``<get>`` replies."""
        ...

    def config_changed(self) -> None:
        """The running configuration changed: follow it."""
        ...

    def apply(self, msg: dict[str, Any]) -> bool:
        """A QNDT result; True if the state changed."""
        ...


def rfc3339(ts: float) -> str:
    """yang:date-and-time in UTC with microseconds."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def dec(value: float, digits: int) -> str:
    """A decimal64 value with at most ``digits`` fraction digits, trailing zeros cut."""
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class Element:
    """Tiny builder for elements of one namespace: ``E('memory', E('name', 'm0'))``."""

    def __init__(self, ns: str) -> None:
        self.ns = ns

    def __call__(self, name: str, *children: etree._Element | str | None) -> etree._Element:
        el = etree.Element(f"{{{self.ns}}}{name}", nsmap={None: self.ns})
        for child in children:
            if child is None:
                continue
            if isinstance(child, str):
                el.text = child
            else:
                el.append(child)
        return el

    def find(self, parent: etree._Element | None, path: str) -> list[etree._Element]:
        """Children along a slash path of local names (all in this namespace)."""
        if parent is None:
            return []
        steps = "/".join(f"{{{self.ns}}}{p}" for p in path.split("/"))
        return parent.findall(steps)

    def text(self, parent: etree._Element, path: str, default: str = "") -> str:
        found = self.find(parent, path)
        return (found[0].text or default) if found else default


class Counters:
    """Monotonic counters keyed by (object, counter), fed by emulation results."""

    def __init__(self) -> None:
        self._values: Counter[tuple[str, str]] = Counter()

    def add(self, obj: str, name: str, amount: int = 1) -> None:
        self._values[(obj, name)] += amount

    def get(self, obj: str, name: str) -> int:
        return self._values[(obj, name)]

    def forget(self, keep: set[str]) -> None:
        """Drop the counters of every object not in ``keep`` (it was deconfigured)."""
        for key in [k for k in self._values if k[0] not in keep]:
            del self._values[key]


class FirstSeen:
    """When each configured object appeared, to age it (QUIs, sessions)."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._seen: dict[str, float] = {}

    def track(self, present: set[str]) -> None:
        now = self.clock()
        for key in present - self._seen.keys():
            self._seen[key] = now
        for key in self._seen.keys() - present:
            del self._seen[key]

    def since(self, key: str) -> float:
        return self._seen.get(key, self.clock())
