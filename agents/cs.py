"""Connectivity Stratum agent: live state of one domain's channels and paths.

Channel loss, transmittance and propagation latency follow from the configured length,
attenuation and the group index of fibre; a disabled (or cut) channel is down and takes
every optical path over it down with it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from lxml import etree

from .live import Clock, Element, dec

NS = "urn:qnms:yang:qnms-connectivity"
E = Element(NS)
FIBRE_MS_PER_KM = 1.468 / 299_792.458 * 1000  # group index of SMF-28 over c, in ms/km


class CsState:
    """The config-false data of ``qnms-connectivity`` for one domain."""

    module = "qnms-connectivity"

    def __init__(self, running: Callable[[], etree._Element], clock: Clock = time.time) -> None:
        self.running = running
        self.clock = clock
        self.cut: set[str] = set()  # channels cut by a fault, whatever their config says
        # The state is a function of running and ``cut`` alone, and a domain's channels
        # are many (1,000 in a 500-node mesh: ~0.2 s of element building per read, on
        # the loop every agent of the process shares): built once per (running, cut).
        self._built: tuple[etree._Element, frozenset[str], etree._Element] | None = None

    def apply(self, msg: dict[str, Any]) -> bool:
        """Take a QNDT result: a channel cut or restored by an injected fault.
        False when the result changed nothing here."""
        if msg.get("type") != "fault" or "channel" not in msg:
            return False
        if msg.get("fault") == "channel-cut":
            self.cut.add(msg["channel"])
        elif msg.get("fault") == "channel-restored":
            self.cut.discard(msg["channel"])
        else:
            return False
        return True

    def config_changed(self) -> None:
        """Nothing to remember: channel state is computed from config on each read."""

    def state(self) -> list[etree._Element]:
        running, cut = self.running(), frozenset(self.cut)
        built = self._built
        if built is None or built[0] is not running or built[1] != cut:
            conn = E.find(running, "connectivity")
            if not conn:
                return []
            built = self._built = (running, cut, self._build(conn[0]))
        return [copy.deepcopy(built[2])]  # callers may merge (move) its nodes: a copy

    def _build(self, cfg: etree._Element) -> etree._Element:
        out = E("connectivity")
        channels, loss_of, up_of = E("channels"), {}, {}
        for ch in E.find(cfg, "channels/channel"):
            name = E.text(ch, "name")
            km = float(E.text(ch, "length-km", "0"))
            loss = km * float(E.text(ch, "attenuation-db-per-km", "0.2"))
            up = E.text(ch, "enabled", "true") == "true" and name not in self.cut
            loss_of[name], up_of[name] = loss, up
            channels.append(
                E(
                    "channel",
                    E("name", name),
                    E("oper-state", "up" if up else "down"),
                    E(
                        "telemetry",
                        E("loss", dec(loss, 4)),
                        E("transmittance", dec(10 ** (-loss / 10), 6)),
                        E("latency", dec(km * FIBRE_MS_PER_KM, 3)),
                    ),
                )
            )
        out.append(channels)
        paths = E("optical-paths")
        for path in E.find(cfg, "optical-paths/optical-path"):
            used = [c.text or "" for c in E.find(path, "channel")]
            up = all(up_of.get(c, False) for c in used)
            paths.append(
                E(
                    "optical-path",
                    E("name", E.text(path, "name")),
                    E("state", "up" if up else "down"),
                    E("total-loss", dec(sum(loss_of.get(c, 0.0) for c in used), 4)),
                )
            )
        out.append(paths)
        classical = E("classical-channels")
        for cc in E.find(cfg, "classical-channels/classical-channel"):
            name = E.text(cc, "name")
            classical.append(
                E(
                    "classical-channel",
                    E("name", name),
                    E("oper-state", "up"),
                    E(
                        "telemetry",
                        E("latency", E.text(cc, "latency", "0")),
                    ),
                )
            )
        out.append(classical)
        return out
