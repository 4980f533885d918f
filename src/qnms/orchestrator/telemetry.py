"""The closed loop's inputs: YANG-Push subscriptions from the orchestrator to the agents.

Seed 5.4 step 6 asks telemetry to trigger refresh, re-binding and re-routing. Each
agent gets one RFC 8641 subscription to ``ds:operational`` (on-change; periodic when
the agent refuses on-change) on its own NETCONF session, separate from the southbound
sessions that edit, so a long notification stream never queues behind a transaction:

* QFS agents: node oper-state, quantum-link oper-state and link-level telemetry (rate,
  success probability, fidelities: the topology map shows them), memory occupancy,
  and for each QUI its state, achieved fidelity and expiry (its age moves
  continuously and is not an on-change leaf);
* CS agents: channel and classical-assist channel oper-state (a cut or restored fibre);
* SS agents: each service unit's store (units delivered, achieved fidelity).

A receiver keeps a replica of each selection: the first ``push-update`` fills it and
every ``push-change-update`` applies its RFC 8072 patch (the server's patches are
exact, yang_patch.py). The replica is flat, ``{path steps: leaf text}``, which is all
the loop reads. One thread per agent waits on ncclient's notification queue and hands
each notification to the event loop, where it is applied and the listener told; a
dropped session is reopened and subscribed again (its first push-update resets the
replica).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from urllib.parse import unquote

from lxml import etree
from ncclient.operations import RPCError
from ncclient.xml_ import to_ele

from qnms.orchestrator.southbound import AgentAddress, AgentSession

log = logging.getLogger(__name__)
SN = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
YP = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
DS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
QFS = "urn:qnms:yang:qnms-quantum-fabric"
CS = "urn:qnms:yang:qnms-connectivity"
SS = "urn:qnms:yang:qnms-service-stratum"
KEYS = {  # list -> key leaf, for the lists the selections below contain
    "channel": "name",
    "classical-channel": "name",
    "quantum-link": "name",
    "memory": "name",
    "qui": "id",
    "service-unit": "name",
}
SELECTIONS = {
    "qfs": f"""<quantum-fabric xmlns="{QFS}"><node><oper-state/></node>
 <memories><memory><name/><state><occupancy/></state></memory></memories>
 <quantum-links><quantum-link><name/><oper-state/><telemetry><generation-rate/>
 <success-probability/><mean-fidelity/><last-fidelity/></telemetry></quantum-link>
 </quantum-links>
 <qui-table><qui><id/><state/><fidelity/><lifecycle><expiry/></lifecycle></qui></qui-table>
 </quantum-fabric>""",
    "cs": f"""<connectivity xmlns="{CS}"><channels><channel><name/><oper-state/></channel>
 </channels><classical-channels><classical-channel><name/><oper-state/></classical-channel>
 </classical-channels></connectivity>""",
    "ss": f"""<service-stratum xmlns="{SS}"><service-units><service-unit><name/>
 <store><delivered-units/><achieved-fidelity/></store></service-unit></service-units>
 </service-stratum>""",
}
Path = tuple[str, ...]


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def target_steps(target: str) -> Path:
    """An RFC 8040 target (``/m:top/list=key/leaf``) as steps without module names."""
    steps = []
    for raw in target.strip("/").split("/"):
        if not raw:
            continue
        name, eq, key = raw.partition("=")
        name = name.rpartition(":")[2]
        steps.append(f"{name}={unquote(key)}" if eq else name)
    return tuple(steps)


class Replica:
    """One agent's subscribed selection, as ``{steps: leaf text}``."""

    def __init__(self) -> None:
        self.leaves: dict[Path, str] = {}

    def _flatten(self, el: etree._Element, base: Path) -> None:
        name = _local(el)
        key = KEYS.get(name)
        step = name
        if key is not None:
            step = f"{name}={(el.findtext(f'{{*}}{key}') or '').strip()}"
        path = (*base, step)
        children = [c for c in el if isinstance(c.tag, str)]
        if not children:
            self.leaves[path] = (el.text or "").strip()
        for c in children:
            self._flatten(c, path)

    def _drop(self, prefix: Path) -> None:
        n = len(prefix)
        for path in [p for p in self.leaves if p[:n] == prefix]:
            del self.leaves[path]

    def load(self, contents: etree._Element) -> None:
        """A push-update: the whole selection."""
        self.leaves.clear()
        for c in contents:
            if isinstance(c.tag, str):
                self._flatten(c, ())

    def patch(self, patch: etree._Element) -> None:
        """A push-change-update's yang-patch, edit by edit."""
        for edit in patch.iterfind(f"{{{YP}}}edit"):
            op = edit.findtext(f"{{{YP}}}operation") or ""
            steps = target_steps(edit.findtext(f"{{{YP}}}target") or "/")
            value = edit.find(f"{{{YP}}}value")
            self._drop(steps)
            if op in ("create", "replace", "merge") and value is not None:
                for c in value:
                    if isinstance(c.tag, str):
                        self._flatten(c, steps[:-1])

    def entries(self, *prefix: str) -> dict[str, dict[Path, str]]:
        """{list key: {rest of path: text}} of the list entries under ``prefix``."""
        n = len(prefix)
        out: dict[str, dict[Path, str]] = {}
        for path, text in self.leaves.items():
            if (
                path[: n - 1] == prefix[:-1]
                and len(path) > n
                and path[n - 1].startswith(prefix[-1] + "=")
            ):
                out.setdefault(path[n - 1].partition("=")[2], {})[path[n:]] = text
        return out


@dataclass
class QuiFacts:
    state: str
    fidelity: float | None
    expiry: str | None


@dataclass
class Facts:
    """What the loop reads, derived from every replica after each notification."""

    channels: dict[str, str] = field(default_factory=dict)  # channel -> up/down
    classical: dict[str, str] = field(default_factory=dict)  # classical channel -> up/down
    nodes: dict[str, str] = field(default_factory=dict)  # node -> up/down
    links: dict[tuple[str, str], str] = field(default_factory=dict)  # (node, link) -> state
    # (node, link) -> {telemetry leaf: canonical text}, as the agent serves them
    link_telemetry: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    occupancy: dict[tuple[str, str], float] = field(default_factory=dict)  # (node, memory)
    quis: dict[tuple[str, str], QuiFacts] = field(default_factory=dict)  # (node, qui id)
    stores: dict[str, dict[str, tuple[int, float | None]]] = field(default_factory=dict)


def agent_facts(addr: AgentAddress, rep: Replica) -> Facts:
    """One agent's part of the facts (recomputed when its replica changes)."""
    f = Facts()
    if addr.stratum == "cs":
        for name, leaves in rep.entries("connectivity", "channels", "channel").items():
            f.channels[name] = leaves.get(("oper-state",), "up")
        assists = rep.entries("connectivity", "classical-channels", "classical-channel")
        for name, leaves in assists.items():
            f.classical[name] = leaves.get(("oper-state",), "up")
    elif addr.stratum == "qfs":
        node = addr.name
        f.nodes[node] = rep.leaves.get(("quantum-fabric", "node", "oper-state"), "up")
        links = rep.entries("quantum-fabric", "quantum-links", "quantum-link")
        for link, leaves in links.items():
            f.links[(node, link)] = leaves.get(("oper-state",), "up")
            f.link_telemetry[(node, link)] = {
                path[1]: text
                for path, text in leaves.items()
                if len(path) == 2 and path[0] == "telemetry" and text
            }
        for mem, leaves in rep.entries("quantum-fabric", "memories", "memory").items():
            occ = leaves.get(("state", "occupancy"))
            if occ:
                f.occupancy[(node, mem)] = float(occ)
        for qid, leaves in rep.entries("quantum-fabric", "qui-table", "qui").items():
            fid = leaves.get(("fidelity",))
            f.quis[(node, qid)] = QuiFacts(
                leaves.get(("state",), ""),
                float(fid) if fid else None,
                leaves.get(("lifecycle", "expiry")),
            )
    elif addr.stratum == "ss":
        units = rep.entries("service-stratum", "service-units", "service-unit")
        f.stores[addr.name] = {
            unit: (
                int(leaves.get(("store", "delivered-units"), "0") or 0),
                float(fid) if (fid := leaves.get(("store", "achieved-fidelity"))) else None,
            )
            for unit, leaves in units.items()
        }
    return f


def merge_facts(parts: Iterable[Facts]) -> Facts:
    """The facts of the network: every agent's part (keys do not overlap)."""
    f = Facts()
    names = [fl.name for fl in fields(Facts)]
    for part in parts:
        for name in names:
            getattr(f, name).update(getattr(part, name))
    return f


def facts_of(replicas: dict[AgentAddress, Replica]) -> Facts:
    return merge_facts(agent_facts(addr, rep) for addr, rep in replicas.items())


def subscription(stratum: str, *, on_change: bool, dampening_cs: int = 0) -> str:
    trigger = (
        f"<yp:on-change><yp:dampening-period>{dampening_cs}</yp:dampening-period></yp:on-change>"
        if on_change
        else "<yp:periodic><yp:period>100</yp:period></yp:periodic>"
    )
    return (
        f'<establish-subscription xmlns="{SN}" xmlns:yp="{YP}" xmlns:ds="{DS}">'
        "<yp:datastore>ds:operational</yp:datastore>"
        f"<yp:datastore-subtree-filter>{SELECTIONS[stratum]}</yp:datastore-subtree-filter>"
        f"{trigger}</establish-subscription>"
    )


Listener = Callable[[AgentAddress, float], None]
"""Told (on the event loop) which agent's replica changed, and when (monotonic) the
notification arrived."""


class Telemetry:
    """Subscriptions to every agent, their replicas, and the facts derived from them."""

    def __init__(self, addresses: Iterable[AgentAddress], *, dampening_cs: int = 0) -> None:
        self.addresses = list(addresses)
        self.dampening_cs = dampening_cs
        self.replicas: dict[AgentAddress, Replica] = {}
        self.facts = Facts()
        self._parts: dict[AgentAddress, Facts] = {}
        self.mode: dict[str, str] = {}  # agent key -> on-change | periodic
        self.received = 0
        self.listeners: list[Listener] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for addr in self.addresses:
            t = threading.Thread(
                target=self._follow, args=(addr,), name=f"telemetry-{addr.key}", daemon=True
            )
            t.start()
            self._threads.append(t)

    async def stop(self) -> None:
        self._stop.set()
        loop = asyncio.get_running_loop()
        for t in self._threads:
            await loop.run_in_executor(None, t.join, 3.0)
        self._threads.clear()

    def _follow(self, addr: AgentAddress) -> None:
        """One agent: subscribe, then hand every notification to the loop; reconnect."""
        backoff = 0.2
        while not self._stop.is_set():
            session = AgentSession(addr, timeout=5.0)
            try:
                m = session.manager()
                self._subscribe(addr, m)
                backoff = 0.2
                while not self._stop.is_set() and m.connected:
                    n = m.take_notification(block=True, timeout=0.2)
                    if n is not None:
                        self._hand_over(addr, n.notification_xml, time.monotonic())
            except Exception as err:  # an agent down or restarting: try again later
                log.debug("telemetry from %s: %r", addr.key, err)
            finally:
                session.close_quietly()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 2.0)

    def _subscribe(self, addr: AgentAddress, m) -> None:
        try:
            m.dispatch(to_ele(subscription(addr.stratum, on_change=True,
                                           dampening_cs=self.dampening_cs)))  # fmt: skip
            self.mode[addr.key] = "on-change"
        except RPCError:  # on-change not supported there: periodic, once a second
            m.dispatch(to_ele(subscription(addr.stratum, on_change=False)))
            self.mode[addr.key] = "periodic"

    def _hand_over(self, addr: AgentAddress, xml: str, arrived: float) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._apply, addr, xml, arrived)

    def _apply(self, addr: AgentAddress, xml: str, arrived: float) -> None:
        root = etree.fromstring(xml.encode())
        update = root.find(f"{{{YP}}}push-update")
        change = root.find(f"{{{YP}}}push-change-update")
        replica = self.replicas.setdefault(addr, Replica())
        if update is not None:
            contents = update.find(f"{{{YP}}}datastore-contents")
            replica.load(contents if contents is not None else etree.Element("empty"))
        elif change is not None:
            patch = change.find(f"{{{YP}}}datastore-changes/{{{YP}}}yang-patch")
            if patch is not None:
                replica.patch(patch)
        else:
            return  # subscription-started, -modified, ...: nothing about the network
        self.received += 1
        self._parts[addr] = agent_facts(addr, replica)  # only this agent's part
        self.facts = merge_facts(self._parts.values())
        for listener in list(self.listeners):
            try:
                listener(addr, arrived)
            except Exception:
                log.exception("telemetry listener failed")
