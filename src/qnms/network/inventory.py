"""A network file: RFC 7951 JSON instance data of the qnms-network module.

The network file is the single description of an emulated network: the QNDT builds
SeQUeNCe from it, and each agent takes from it the subtree of its own element (the
device models reuse the groupings the network module is made of, so a node's subtree is
exactly the instance data its agent serves). Loading validates against the model with
the schema's own checks (every value through pyang's type checks, as a lazily bound
datastore does), then checks the references between elements that YANG cannot express
across devices (a link's remote end, the channel it rides on). Not through the
generated bindings: decoding the default network into them took 1.5-2.5 s of every
agent's start (issue 13) and caught nothing the type checks miss.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qnms.yang.catalog import IETF_DIR, MODULES, YANG_DIR
from qnms.yang.codec import CodecError, json_to_xml
from qnms.yang.errors import RpcError
from qnms.yang.schema import Schema
from qnms.yang.schema_cache import cached_schema
from qnms.yang.validation import validate_tree

DEFAULT_NETWORK = Path(__file__).parent / "data" / "default-network.json"
TOP = "qnms-network:network"
ROOT = f"/{TOP}"


@dataclass(frozen=True)
class Problem:
    """One problem of a network file: the RFC 7951 data path of the node and what is
    wrong with it (the message of the ``RpcError`` a server would have answered)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    @classmethod
    def of(cls, err: RpcError) -> Problem:
        return cls(_json_path(err.path or "/"), err.message)


class NetworkError(ValueError):
    """The network file is not valid; ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def short_identity(identity: str) -> str:
    """``qnms-types:repeater`` -> ``repeater`` (RFC 7951 identities carry their module)."""
    return identity.split(":", 1)[-1]


@dataclass
class Network:
    """A validated network: its RFC 7951 data and where it came from."""

    data: dict[str, Any]
    source: str

    @property
    def body(self) -> dict[str, Any]:
        return self.data[TOP]

    @property
    def name(self) -> str:
        return self.body["name"]

    @property
    def domains(self) -> list[dict[str, Any]]:
        return self.body.get("domain", [])

    @property
    def nodes(self) -> list[dict[str, Any]]:
        return self.body.get("node", [])

    @property
    def applications(self) -> list[dict[str, Any]]:
        return self.body.get("application", [])

    def node(self, name: str) -> dict[str, Any]:
        for node in self.nodes:
            if node["name"] == name:
                return node
        raise KeyError(f"no node named {name!r} in network {self.name!r}")

    def channels(self) -> list[dict[str, Any]]:
        """All CS channels of all domains, each with the domain that operates it."""
        return [
            {**ch, "domain": d["name"]}
            for d in self.domains
            for ch in d.get("connectivity", {}).get("channels", {}).get("channel", [])
        ]

    def classical_channels(self) -> list[dict[str, Any]]:
        return [
            {**ch, "domain": d["name"]}
            for d in self.domains
            for ch in d.get("connectivity", {})
            .get("classical-channels", {})
            .get("classical-channel", [])
        ]

    def role(self, node: dict[str, Any]) -> str:
        return short_identity(node["quantum-fabric"]["node"]["role"])

    # Instance data of each agent, in its device module's namespace (RFC 7951).

    def qfs_data(self, node: str) -> dict[str, Any]:
        return {"qnms-quantum-fabric:quantum-fabric": self.node(node)["quantum-fabric"]}

    def ss_data(self, node: str) -> dict[str, Any] | None:
        ss = self.node(node).get("service-stratum")
        return None if ss is None else {"qnms-service-stratum:service-stratum": ss}

    def cs_data(self, domain: str) -> dict[str, Any]:
        for d in self.domains:
            if d["name"] == domain:
                return {"qnms-connectivity:connectivity": d.get("connectivity", {})}
        raise KeyError(f"no domain named {domain!r} in network {self.name!r}")


def load_network(path: str | Path = DEFAULT_NETWORK) -> Network:
    """Read and validate a network file; raise NetworkError listing every problem."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise NetworkError(source, [Problem("/", f"cannot read file: {err.strerror}")]) from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        where = f"line {err.lineno} column {err.colno}"
        raise NetworkError(source, [Problem("/", f"not JSON ({where}): {err.msg}")]) from err
    return validate_network(data, source)


def validate_network(data: Any, source: str = "<data>") -> Network:
    """Validate RFC 7951 network data against the model and its cross-references.

    One pass of each of the project's checks, every problem collected: the codec
    (unknown nodes, JSON shapes), the schema checks with every value checked in depth
    (types, ranges, patterns, identities, fraction digits; keys, mandatory nodes,
    min-elements, leafrefs), then the references between elements.
    """
    if not isinstance(data, dict) or set(data) != {TOP}:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise NetworkError(source, [Problem("/", f"expected one member {TOP!r}, found {found}")])
    schema = network_schema()
    shape: list[CodecError] = []
    tree = json_to_xml(data, schema, shape)
    problems = [Problem(*str(err).split(": ", 1)) for err in shape]
    every_module = frozenset(m.name for m in schema.modules)
    problems += [
        Problem.of(p.error) for p in validate_tree(schema, tree, deep_modules=every_module)
    ]
    if not problems:
        problems = _check_references(data[TOP])
    if problems:
        raise NetworkError(source, problems)
    return Network(data=data, source=source)


@functools.cache
def network_schema() -> Schema:
    # cached: every `qnms agent` validates its network file before it listens (issue 13)
    return cached_schema([YANG_DIR / f"{m}.yang" for m in MODULES], search_dirs=[IETF_DIR])


def _json_path(xml_path: str) -> str:
    """/net:network/net:node[net:name='a'] -> /qnms-network:network/node[name='a']"""
    return "/qnms-network:" + re.sub(r"(?<=[/\[])net:", "", xml_path).lstrip("/")


def _check_references(net: dict[str, Any]) -> list[Problem]:
    """What YANG cannot say across device models: both ends of every link agree."""
    problems: list[Problem] = []
    domains = {d["name"] for d in net.get("domain", [])}
    nodes = {n["name"]: n for n in net.get("node", [])}
    channels: dict[str, dict[str, Any]] = {}
    for d in net.get("domain", []):
        for ch in d.get("connectivity", {}).get("channels", {}).get("channel", []):
            here = (
                f"{ROOT}/domain[name='{d['name']}']/connectivity/channels"
                f"/channel[name='{ch['name']}']"
            )
            if ch["name"] in channels:
                problems.append(Problem(here, "channel name is used by another domain too"))
            channels[ch["name"]] = ch
            for end in ("node-a", "node-b"):
                if ch.get(end) not in nodes:
                    problems.append(Problem(f"{here}/{end}", f"no node named {ch.get(end)!r}"))
    for name, node in nodes.items():
        qfs = node.get("quantum-fabric", {})
        base = f"{ROOT}/node[name='{name}']/quantum-fabric"
        ident = qfs.get("node", {})
        if ident.get("id") != name:
            problems.append(Problem(f"{base}/node/id", f"must equal the node name {name!r}"))
        if ident.get("domain") not in domains:
            problems.append(Problem(f"{base}/node/domain", f"no domain {ident.get('domain')!r}"))
        memories = {m["name"] for m in qfs.get("memories", {}).get("memory", [])}
        for link in qfs.get("quantum-links", {}).get("quantum-link", []):
            here = f"{base}/quantum-links/quantum-link[name='{link['name']}']"
            problems += _check_link(name, link, here, nodes, channels, memories)
    for app in net.get("application", []):
        here = f"{ROOT}/application[name='{app['name']}']"
        host = app.get("attached-to")
        if host is None:
            continue
        ss = nodes.get(host, {}).get("service-stratum")
        if ss is None:
            problems.append(Problem(f"{here}/attached-to", f"node {host!r} has no SS element"))
            continue
        urns = {e["urn"] for e in ss.get("endpoints", {}).get("endpoint", [])}
        if app.get("endpoint") not in urns:
            problems.append(
                Problem(f"{here}/endpoint", f"{app.get('endpoint')!r} is not an endpoint of {host}")
            )
    return problems


def _check_link(
    name: str,
    link: dict[str, Any],
    here: str,
    nodes: dict[str, dict[str, Any]],
    channels: dict[str, dict[str, Any]],
    memories: set[str],
) -> list[Problem]:
    problems: list[Problem] = []
    remote = link.get("remote-node")
    if link.get("local-memory") not in memories:
        problems.append(Problem(f"{here}/local-memory", f"no memory {link.get('local-memory')!r}"))
    if remote not in nodes:
        return [*problems, Problem(f"{here}/remote-node", f"no node named {remote!r}")]
    ch = channels.get(link.get("channel", ""))
    if ch is None:
        problems.append(Problem(f"{here}/channel", f"no channel named {link.get('channel')!r}"))
    elif {ch["node-a"], ch["node-b"]} != {name, remote}:
        problems.append(
            Problem(
                f"{here}/channel",
                f"channel {ch['name']!r} joins {ch['node-a']} and {ch['node-b']}, "
                f"not {name} and {remote}",
            )
        )
    far = nodes[remote].get("quantum-fabric", {}).get("quantum-links", {}).get("quantum-link", [])
    if not any(lk["name"] == link["name"] and lk.get("remote-node") == name for lk in far):
        problems.append(
            Problem(f"{here}/remote-node", f"{remote} has no link {link['name']!r} back to {name}")
        )
    return problems
