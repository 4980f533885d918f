"""An SS agent's KME: its configuration read from NETCONF, its state back into NETCONF.

The SS agent's running datastore is the KME's configuration (seed 4.2: the control plane
updates the forwarding table and the sessions over NETCONF): ``kme-id``, endpoints
(their ``application`` is the SAE_ID), sessions with token buckets, and
``key-forwarding`` routes, read on every use so edit-config takes effect at once. Back
into NETCONF go only counts: the bucket's ``rejected-requests`` and the
``token-bucket-exhausted`` notification; never key bits (api.py and kme.py log ids only).

Link key is made from the QNDT results the SS agent already receives (ss.py): a
``pair-delivered`` between this node and a node hosting another KME feeds that link.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

from qnms.network.inventory import Network
from qnms_agents.base import Agent
from qnms_agents.kme.kme import Kme, KmeLimits
from qnms_agents.kme.server import Credentials, KmeServer
from qnms_agents.kme.units import UnitBook, unit_specs
from qnms_agents.live import dec
from qnms_agents.ss import NS, E

log = logging.getLogger(__name__)


def _config(agent: Agent) -> etree._Element | None:
    found = E.find(agent.datastores.get_config("running"), "service-stratum")
    return found[0] if found else None


def kme_id(agent: Agent) -> str:
    cfg = _config(agent)
    return (E.text(cfg, "kme-id") if cfg is not None else "") or agent.config.name


def local_saes(agent: Agent) -> set[str]:
    return {E.text(ep, "application") for ep in E.find(_config(agent), "endpoints/endpoint")} - {""}


def routes(agent: Agent) -> dict[str, str]:
    """Destination KME -> next-hop KME. Routes are per service unit (deleting one unit
    leaves another's towards the same KME); of several towards one destination, the
    route of the lowest unit name wins. That rule cannot loop: the next hop lies on the
    chosen unit's path, so it holds that unit's route too and picks it or a lower one;
    the label never rises and, while it stays, the relay moves along one simple path."""
    best: dict[str, tuple[str, str]] = {}
    for r in E.find(_config(agent), "key-forwarding/route"):
        dest, unit = E.text(r, "destination"), E.text(r, "service-unit")
        if dest not in best or unit < best[dest][0]:
            best[dest] = (unit, E.text(r, "next-hop"))
    return {dest: hop for dest, (_unit, hop) in best.items()}


def sessions_of(agent: Agent, sae: str) -> list[str]:
    """The application sessions whose endpoint is the SAE's."""
    cfg = _config(agent)
    urns = {
        E.text(ep, "urn")
        for ep in E.find(cfg, "endpoints/endpoint")
        if E.text(ep, "application") == sae
    }
    return [
        E.text(s, "id") for s in E.find(cfg, "sessions/session") if E.text(s, "endpoint") in urns
    ]


class AgentLimiter:
    """Key requests against the SAE's session bucket; rejections counted and notified."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def __call__(self, sae: str) -> str | None:
        live = self.agent.live
        for sid in sessions_of(self.agent, sae):
            bucket = live.bucket(sid)
            if bucket is None:
                continue
            if bucket.take(live.clock()):
                return None
            note = etree.Element(f"{{{NS}}}token-bucket-exhausted", nsmap={None: NS})
            etree.SubElement(note, f"{{{NS}}}session").text = sid
            self.agent.server.hub.publish(note)
            self.agent.state_changed()
            log.info("session %s: token bucket exhausted, request of %s rejected", sid, sae)
            return sid
        return None


def attach_kme(
    agent: Agent,
    creds: Credentials,
    *,
    directory: dict[str, str],
    node_kmes: dict[str, str],
    peers: dict[str, str],
    port: int = 0,
    limits: KmeLimits | None = None,
    saes_by_urn: dict[str, str] | None = None,
    books: dict[str, UnitBook] | None = None,
) -> KmeServer:
    """A KME server for an SS agent (start it on the agent's loop).

    ``directory`` maps every SAE_ID to its KME, ``node_kmes`` node names to KME ids (to
    tell which link a delivered pair belongs to; every KME in it may call this one: the
    trusted nodes of a relay), ``peers`` KME ids to their URLs, ``saes_by_urn`` endpoint
    URNs to SAE_IDs (the far end of a qkd-key unit: units.py); ``books`` gets the KME's
    book of qkd-key units under its id.
    """
    me = kme_id(agent)
    kme = Kme(
        me,
        limits=limits or KmeLimits(),
        local_saes=local_saes(agent),
        directory=directory,
        routes=lambda: routes(agent),
        known_kmes=set(node_kmes.values()),
    )
    book = UnitBook(kme, (saes_by_urn or {}).get)
    if books is not None:
        books[me] = book
    agent.live.config_listeners.append(lambda cfg: book.configure(unit_specs(cfg)))
    agent.live.store_providers.append(book.store)
    book.configure(unit_specs(_config(agent)))
    server = KmeServer(
        kme, creds, host=agent.config.host, port=port, peers=peers, limiter=AgentLimiter(agent)
    )

    def on_result(msg: dict[str, Any]) -> None:
        if msg.get("type") != "pair-delivered":
            return
        others = [n for n in msg.get("endpoints", ()) if n != agent.config.name]
        peer = node_kmes.get(others[0]) if others else None
        if peer is None or peer == me:
            return
        asyncio.get_running_loop().create_task(
            kme.pairs_delivered(peer, float(msg.get("fidelity", 0.0)))
        )

    agent.live.result_listeners.append(on_result)
    agent.live.state_extensions.append(lambda: kme_state(kme))
    return server


def kme_state(kme: Kme) -> etree._Element:
    """The ``kme`` container of qnms-service-stratum: counts, sizes, QBER; no key bits."""
    out = E("kme")
    out.append(E("delivered-keys", str(kme.delivered)))
    out.append(E("relayed-chunks", str(kme.relayed)))
    out.append(E("failed-relays", str(kme.failed_relays)))
    for peer, pool in sorted(kme.pools.items()):
        yld = kme.yields[peer]
        out.append(
            E(
                "link",
                E("peer", peer),
                E("qber", dec(pool.qber, 6)),
                E("producing", "true" if pool.producing else "false"),
                E("secret-bits", str(int(yld.secret_bits))),
                E("stored-bytes", str(pool.mine.available() + pool.theirs.available())),
            )
        )
    for dest, store in sorted(kme.stores.items()):
        out.append(
            E(
                "key-store",
                E("destination", dest),
                E("stored-bytes", str(store.mine.available())),
                E("peer-stored-bytes", str(store.theirs.available())),
            )
        )
    return out


class KmeGroup:
    """The KMEs of every SS agent of one process, sharing one address book.

    The SAE directory (SAE_ID -> KME) and the node -> KME map come from the network
    file's SS elements when it is given (KMEs in other processes included), else from
    the agents' own configuration. ``peers`` adds the URLs of KMEs served by other
    processes (``--kme-peers``); in a managed network the control plane would
    provision both (orchestrator, issue 12).
    """

    def __init__(
        self,
        agents: list[Agent],
        pki: Path,
        *,
        base_port: int = 0,
        network: Network | None = None,
        peers: dict[str, str] | None = None,
        limits: KmeLimits | None = None,
    ) -> None:
        ss = [a for a in agents if a.config.stratum == "ss"]
        self.directory = {sae: kme_id(a) for a in ss for sae in local_saes(a)}
        node_kmes = {a.config.name: kme_id(a) for a in ss}
        saes_by_urn = {
            E.text(ep, "urn"): E.text(ep, "application")
            for a in ss
            for ep in E.find(_config(a), "endpoints/endpoint")
        }
        for node in network.nodes if network is not None else []:
            cfg = node.get("service-stratum")
            if cfg is not None:
                kid = cfg.get("kme-id") or node["name"]
                node_kmes.setdefault(node["name"], kid)
                for ep in cfg.get("endpoints", {}).get("endpoint", []):
                    if ep.get("application"):
                        self.directory.setdefault(ep["application"], kid)
                        saes_by_urn.setdefault(ep["urn"], ep["application"])
        self.peers: dict[str, str] = dict(peers or {})
        self.books: dict[str, UnitBook] = {}  # qkd-key units, by KME id
        self.servers = [
            attach_kme(
                a,
                Credentials.from_dir(pki, kme_id(a)),
                directory=self.directory,
                node_kmes=node_kmes,
                peers=self.peers,
                port=base_port + i if base_port else 0,
                limits=limits,
                saes_by_urn=saes_by_urn,
                books=self.books,
            )
            for i, a in enumerate(ss)
        ]

    async def start(self, say: Callable[[str], None] | None = None) -> None:
        """Start every KME server; ``say`` each one's address (default: print it)."""
        for s in self.servers:
            await s.start()
            self.peers[s.kme.kme_id] = s.url
            line = f"{'kme':8} {s.kme.kme_id:18} {s.url} (ETSI GS QKD 014)"
            if say is None:
                print(line, flush=True)
            else:
                say(line)

    async def stop(self) -> None:
        for s in reversed(self.servers):
            await s.stop()
