"""The demo's ending: two applications in two domains share a key through a qkd-key unit.

ccips (at madqci-alice) asks the orchestrator, with one edit-config on the northbound,
for a ``qkd-key`` service unit towards ipsec-controller (at quditto-charlie). The
orchestrator provisions it over trusted nodes (orchestrator/keys.py): each hop's pair
of KMEs makes its own key from its own link's pairs in the twin (BBM92), and the key is
one-time-pad relayed hop by hop, because a pair swapped end to end over these links has
a QBER above the threshold (no key at all). Once the unit is active, the applications
act as ETSI GS QKD 014 SAEs over mutual TLS with their own certificates: the master
calls ``enc_keys``, the slave ``dec_keys`` with the key IDs; the demo checks both hold
the same key and prints key IDs (never bits), the QBER and key rate of each link used
(read over NETCONF from the KMEs' telemetry) and the key rate the application got.

The KMEs of the demo make and relay key in small chunks (``DEMO_LIMITS``) so that a key
is ready within seconds of wall time at the twin's pace.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from lxml import etree

from qnms.app.background import BackgroundLoop
from qnms.app.northbound import (
    Login,
    UnitRequest,
    UnitStatus,
    connect,
    error_text,
    request_unit,
    wait_for,
)
from qnms.app.pki import make_pki, network_identities
from qnms.app.stack import Stack
from qnms.network.inventory import Network
from qnms_agents.kme.attach import kme_id
from qnms_agents.kme.kme import KmeLimits
from qnms_agents.kme.tls import client_context

SS = "urn:qnms:yang:qnms-service-stratum"
MASTER, SLAVE = "ccips", "ipsec-controller"
KEY_UNIT = "su-keys"
KEY_BITS = 64
KEY_TIMEOUT = 120.0  # wall seconds until the unit is active
# 64-bit keys, link and relay chunks of 8 bytes: a key needs ~64 secret bits per hop
DEMO_LIMITS = KmeLimits(key_size=KEY_BITS, min_key_size=64, batch_bytes=8, chunk_bytes=8)


def demo_pki(net: Network, out: Path) -> Path:
    """A private CA with the network's KME and SAE certificates (``qnms pki``)."""
    kmes, saes = network_identities(net.source)
    make_pki(out, kmes, saes)
    return out


@dataclass
class LinkReading:
    """One link of the key path as its KMEs report it (qnms-service-stratum kme/link)."""

    a: str
    b: str
    qber: float
    producing: bool
    secret_bits: int
    seconds: float

    @property
    def key_rate(self) -> float:
        return self.secret_bits / self.seconds if self.seconds > 0 else 0.0


@dataclass
class KeyResult:
    """What the demo's key exchange showed."""

    unit: UnitStatus
    wall_seconds: float
    key_ids: list[str] = field(default_factory=list)
    same_key: bool = False
    links: list[LinkReading] = field(default_factory=list)
    app_bits: int = 0  # key bits that reached the master's end store
    error: str = ""

    @property
    def app_rate(self) -> float:
        seconds = self.links[0].seconds if self.links else 0.0
        return self.app_bits / seconds if seconds > 0 else 0.0

    @property
    def physics_rate(self) -> float:
        """What trusted-node relay can get: the slowest hop's secret key rate."""
        return min((lk.key_rate for lk in self.links), default=0.0)

    @property
    def ok(self) -> bool:
        return self.unit.state == "active" and self.same_key and not self.error

    def as_json(self) -> dict[str, Any]:
        return {
            "keys": {
                "master": MASTER,
                "slave": SLAVE,
                "key-ids": self.key_ids,
                "key-bits": KEY_BITS,
                "same-key": self.same_key,
                "application-key-rate": round(self.app_rate, 3),
                "physics-key-rate": round(self.physics_rate, 3),
                "links": [
                    {
                        "link": f"{lk.a}-{lk.b}",
                        "qber": round(lk.qber, 6),
                        "producing": lk.producing,
                        "secret-bits": lk.secret_bits,
                        "key-rate": round(lk.key_rate, 3),
                    }
                    for lk in self.links
                ],
                "error": self.error,
            }
        }


def key_request(net: Network, valid_until: int) -> UnitRequest:
    apps = {a["name"]: a["endpoint"] for a in net.applications}
    return UnitRequest(
        name=KEY_UNIT,
        originator=apps[MASTER],
        endpoints=(apps[MASTER], apps[SLAVE]),
        size=KEY_BITS,
        valid_until=valid_until,
        service_type="qkd-key",
    )


def share_keys(
    login: Login, stack: Stack, net: Network, pki: Path, bg: BackgroundLoop, *, say
) -> KeyResult:
    """Provision the key unit, then exchange one key between the two SAEs."""
    unit = key_request(net, int(time.time()) + 3600)
    say(f"  {KEY_UNIT}: edit-config service-unit (qkd-key) {' <-> '.join(unit.endpoints)}")
    t0 = time.monotonic()
    with connect(login) as m:
        try:
            request_unit(m, unit)
        except Exception as err:  # an rpc-error: the unit was refused
            return KeyResult(UnitStatus(KEY_UNIT, "refused"), 0.0, error=error_text(err))

        def progress(st: UnitStatus) -> None:
            extra = f", {st.delivered} key bits at both ends" if st.delivered else ""
            say(f"  {st.name}: {st.state}{extra}  [{time.monotonic() - t0:.2f} s]")

        seen = wait_for(m, [KEY_UNIT], timeout=KEY_TIMEOUT, on_change=progress)
    status = seen.get(KEY_UNIT, UnitStatus(KEY_UNIT, "unknown"))
    result = KeyResult(status, time.monotonic() - t0)
    if status.state != "active":
        result.error = status.failure_reason or f"unit {status.state}"
        return result
    links, stored = _telemetry(stack, status.path, result.wall_seconds)
    result.links, result.app_bits = links, stored + status.delivered  # + the unit's keys
    kmes = stack.kmes
    assert kmes is not None
    urls = {sae: kmes.peers[kid] for sae, kid in kmes.directory.items() if kid in kmes.peers}
    try:
        ids, same = bg.run(_exchange(pki, urls[MASTER], urls[SLAVE]))
    except (aiohttp.ClientError, KeyError, ValueError) as err:
        result.error = f"key exchange failed: {err}"
        return result
    result.key_ids, result.same_key = ids, same
    return result


async def _call(s: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    async with s.request(method, url, **kw) as r:
        body = await r.json(content_type=None)
        if r.status != 200:
            raise ValueError(f"{method} {url}: {r.status} {body.get('message', '')}")
        return body


async def _exchange(pki: Path, master_url: str, slave_url: str) -> tuple[list[str], bool]:
    """The master's enc_keys, then the slave's dec_keys with those key IDs, each SAE
    over its own mutually authenticated TLS connection; the keys are compared here and
    never printed."""
    ca = pki / "ca.pem"

    def ctx(sae: str) -> Any:
        return client_context(ca, pki / f"{sae}.pem", pki / f"{sae}.key")

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx(MASTER))) as s:
        url = f"{master_url}/api/v1/keys/{SLAVE}/enc_keys"
        got = await _call(s, "POST", url, json={"number": 1, "size": KEY_BITS})
    ids = [k["key_ID"] for k in got["keys"]]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx(SLAVE))) as s:
        url = f"{slave_url}/api/v1/keys/{MASTER}/dec_keys"
        body = {"key_IDs": [{"key_ID": k} for k in ids]}
        back = await _call(s, "POST", url, json=body)
    mine = {k["key_ID"]: k["key"] for k in got["keys"]}
    theirs = {k["key_ID"]: k["key"] for k in back["keys"]}
    return ids, bool(mine) and mine == theirs


def _kme_state(stack: Stack, node: str) -> etree._Element | None:
    host, port, user, password = stack.agent_login("ss", node)
    with connect(Login(host, port, user, password)) as m:
        flt = f'<service-stratum xmlns="{SS}"><kme/></service-stratum>'
        return m.get(filter=("subtree", flt)).data_ele.find(f".//{{{SS}}}kme")


def _telemetry(stack: Stack, path: list[str], seconds: float) -> tuple[list[LinkReading], int]:
    """Each link's QBER and secret bits made since the unit was requested (the links
    made nothing before: no other unit uses them), and the key bits that reached the
    master's end store towards the slave's KME and are still there (the unit's
    reserved keys have left it)."""
    kme_of = _kme_ids(stack)
    links = []
    for a, b in itertools.pairwise(path):
        kme = _kme_state(stack, a if kme_of[a] < kme_of[b] else b)  # the link's generator
        peer = kme_of[b] if kme_of[a] < kme_of[b] else kme_of[a]
        link = _find(kme, "link", "peer", peer)
        links.append(
            LinkReading(
                a,
                b,
                float(_text(link, "qber", "0")),
                _text(link, "producing", "false") == "true",
                int(_text(link, "secret-bits", "0")),
                seconds,
            )
        )
    master = _kme_state(stack, path[0])
    store = _find(master, "key-store", "destination", kme_of[path[-1]])
    return links, int(_text(store, "stored-bytes", "0")) * 8


def _kme_ids(stack: Stack) -> dict[str, str]:
    """Node -> KME id, for the nodes whose SS agent hosts a KME."""
    return {a.config.name: kme_id(a) for a in stack.agents if a.config.stratum == "ss"}


def _find(parent: etree._Element | None, tag: str, key: str, value: str) -> Any:
    if parent is None:
        return None
    for el in parent.iterfind(f"{{{SS}}}{tag}"):
        if el.findtext(f"{{{SS}}}{key}") == value:
            return el
    return None


def _text(el: etree._Element | None, tag: str, default: str) -> str:
    if el is None:
        return default
    return el.findtext(f"{{{SS}}}{tag}") or default


def key_lines(r: KeyResult) -> list[str]:
    """The demo's closing table: key IDs, never key bits."""
    lines = [f"service unit {KEY_UNIT} (qkd-key, {MASTER} -> {SLAVE}): {r.unit.state}"]
    if r.error:
        lines.append(f"  reason       {r.error}")
    lines += [f"  identifier   {urn}" for urn in r.unit.identifier]
    lines.append(f"  path         {' > '.join(r.unit.path) or '-'} (trusted nodes)")
    for lk in r.links:
        state = "" if lk.producing else " (above threshold: no key)"
        lines.append(
            f"  link         {lk.a}-{lk.b}: QBER {lk.qber:.4f}, "
            f"{lk.key_rate:.2f} secret bit/s{state}"
        )
    for kid in r.key_ids:
        lines.append(f"  key ID       {kid} ({KEY_BITS} bits)")
    if r.key_ids:
        same = "the same key" if r.same_key else "DIFFERENT keys"
        lines.append(f"  check        {MASTER} (enc_keys) and {SLAVE} (dec_keys) hold {same}")
    if r.links:
        lines.append(
            f"  key rate     application {r.app_rate:.2f} bit/s, physics (slowest hop) "
            f"{r.physics_rate:.2f} bit/s"
        )
    lines.append(f"  established  {r.wall_seconds:.2f} s wall from the edit-config to active")
    return lines


def key_json(r: KeyResult) -> dict[str, Any]:
    """The key unit as an entry of ``qnms demo --json``: the unit fields, then keys."""
    return {**asdict(r.unit), "wall-seconds": round(r.wall_seconds, 3), **r.as_json()}
