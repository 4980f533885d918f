"""Which agents the orchestrator manages and where they listen.

Two sources: an inventory file (JSON list of ``AgentAddress`` fields), or a network
file plus the base port that ``qnms agents --base-port P`` was given. The second
repeats the runner's numbering rule (agents/runner.py: a QFS agent per node in file
order, then an SS agent per node that hosts one, then a CS agent per domain, on
consecutive ports) instead of importing agent code: the orchestrator meets agents
only over the network. Only names and ports come from the file; what each element
*is* (its memories, links, channels) is discovered from the agents themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

from qnms.network.inventory import Network
from qnms.orchestrator.southbound import AgentAddress


def network_elements(network: Network) -> list[tuple[str, str]]:
    """(stratum, name) of every agent, in the order ``qnms agents`` numbers them."""
    out = [("qfs", n["name"]) for n in network.nodes]
    out += [("ss", n["name"]) for n in network.nodes if "service-stratum" in n]
    out += [("cs", d["name"]) for d in network.domains]
    return out


def node_domains(network: Network) -> dict[str, str]:
    """{node name: its domain} as the network file's QFS data says."""
    return {
        n["name"]: n.get("quantum-fabric", {}).get("node", {}).get("domain", "")
        for n in network.nodes
    }


def in_domain(network: Network, domain: str, stratum: str, name: str) -> bool:
    """Whether an element belongs to ``domain`` (a CS agent is named after its domain)."""
    return name == domain if stratum == "cs" else node_domains(network).get(name) == domain


def from_network(
    network: Network,
    base_port: int,
    *,
    host: str = "127.0.0.1",
    username: str = "admin",
    password: str = "admin",
    domain: str | None = None,
) -> list[AgentAddress]:
    """Every agent, or with ``domain`` only that domain's (a domain orchestrator's)."""
    return [
        AgentAddress(stratum, name, host, base_port + i, username, password)
        for i, (stratum, name) in enumerate(network_elements(network))
        if domain is None or in_domain(network, domain, stratum, name)
    ]


def load_inventory(path: str | Path) -> list[AgentAddress]:
    """An inventory file: ``[{"stratum": "qfs", "name": "n1", "host": ..., "port": ...}]``."""
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    return [AgentAddress(**row) for row in rows]
