"""Fixtures and helpers of the RFC 8639/8641 subscription tests (yang-push).

Fixtures ``live``, ``push_factory`` and ``push_server`` are registered by
tests/netconf/conftest.py; they build on ``server_factory`` of support.servers.

The server is the real one over the example modules, with a live state provider
whose values change because the test says so (a counter) or with time (an uptime
in milliseconds), the way an agent's state changes as its emulation runs.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from ncclient.xml_ import to_ele

from qnms.netconf.datastore.manager import DatastoreManager

from .servers import FIXTURES, ServerThread

EX = "urn:example:net"
SN = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
YP = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
DS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"
NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
IETF = Path(__file__).parents[2] / "src" / "qnms" / "yang" / "ietf"
QSS = Path(__file__).parents[2] / "src" / "qnms" / "netconf" / "push" / "yang"
UPTIME = "/example-net:network/statistics/uptime"
STATS = f'<network xmlns="{EX}"><statistics/></network>'
COUNTERS = f'<network xmlns="{EX}"><statistics><counter/></statistics></network>'
NODES = f'<network xmlns="{EX}"><node/></network>'


@dataclass
class LiveState:
    """``statistics``: counters the test moves, and an uptime that moves by itself."""

    counters: dict[str, int] = field(default_factory=lambda: {"pairs": 0})
    started: float = field(default_factory=time.monotonic)
    fail: bool = False  # an emulation backend that is down

    def state(self) -> list[etree._Element]:
        if self.fail:
            raise RuntimeError("emulation unreachable")
        q = f"{{{EX}}}"
        net = etree.Element(q + "network", nsmap={None: EX})
        stats = etree.SubElement(net, q + "statistics")
        ms = int((time.monotonic() - self.started) * 1000)
        etree.SubElement(stats, q + "uptime").text = str(ms)
        for name, value in dict(self.counters).items():
            c = etree.SubElement(stats, q + "counter")
            etree.SubElement(c, q + "name").text = name
            etree.SubElement(c, q + "value").text = str(value)
        return [net]


@pytest.fixture
def live() -> LiveState:
    return LiveState()


@pytest.fixture
def push_factory(
    server_factory: Callable[..., ServerThread], live: LiveState
) -> Callable[..., ServerThread]:
    """A server whose operational datastore holds ``live``; options as keywords."""

    def make(**opts: Any) -> ServerThread:
        opts.setdefault("on_change_unsupported", (UPTIME,))
        ds = DatastoreManager.for_tests(FIXTURES, state_provider=live)
        return server_factory(ds, **opts)

    return make


@pytest.fixture
def push_server(push_factory: Callable[..., ServerThread]) -> ServerThread:
    return push_factory()


# -- requests ---------------------------------------------------------------------------


def datastore_sub(
    select: str | None = STATS,
    trigger: str = "<yp:periodic><yp:period>10</yp:period></yp:periodic>",
    *,
    datastore: str = "ds:operational",
    xpath: str | None = None,
    extra: str = "",
) -> str:
    """An establish-subscription for a datastore (RFC 8641), as XML text."""
    flt = ""
    if xpath is not None:
        flt = f'<yp:datastore-xpath-filter xmlns:en="{EX}">{xpath}</yp:datastore-xpath-filter>'
    elif select is not None:
        flt = f"<yp:datastore-subtree-filter>{select}</yp:datastore-subtree-filter>"
    return (
        f'<establish-subscription xmlns="{SN}" xmlns:yp="{YP}" xmlns:ds="{DS}">'
        f"<yp:datastore>{datastore}</yp:datastore>{flt}{trigger}{extra}"
        "</establish-subscription>"
    )


def on_change(dampening: int = 0, extra: str = "") -> str:
    return (
        f"<yp:on-change><yp:dampening-period>{dampening}</yp:dampening-period>{extra}"
        "</yp:on-change>"
    )


def periodic(period: int) -> str:
    return f"<yp:periodic><yp:period>{period}</yp:period></yp:periodic>"


def stream_sub(stream: str = "NETCONF", flt: str = "") -> str:
    return (
        f'<establish-subscription xmlns="{SN}"><stream>{stream}</stream>{flt}'
        "</establish-subscription>"
    )


def establish(m: Any, body: str) -> int:
    """Send establish-subscription; the new subscription's id."""
    reply = m.dispatch(to_ele(body))
    return int(etree.fromstring(reply.xml.encode()).findtext(f"{{{SN}}}id"))


def rpc(m: Any, name: str, sub_id: int, ns: str = SN, body: str = "") -> Any:
    return m.dispatch(to_ele(f'<{name} xmlns="{ns}"><id>{sub_id}</id>{body}</{name}>'))


# -- notifications ------------------------------------------------------------------------


@dataclass
class Note:
    """One received notification: when it arrived, its eventTime and its content."""

    arrived: float
    event_time: str
    body: etree._Element
    raw: str

    @property
    def kind(self) -> str:
        return etree.QName(self.body).localname

    @property
    def id(self) -> int | None:
        text = self.body.findtext(f"{{{YP}}}id") or self.body.findtext(f"{{{SN}}}id")
        return int(text) if text else None


def take(m: Any, timeout: float = 2.0) -> Note | None:
    n = m.take_notification(timeout=timeout)
    if n is None:
        return None
    root = etree.fromstring(n.notification_xml.encode())
    body = next(c for c in root if etree.QName(c).localname != "eventTime")
    return Note(time.monotonic(), root.findtext(f"{{{NOTIF}}}eventTime"), body, n.notification_xml)


def collect(m: Any, until: Callable[[list[Note]], bool], timeout: float = 3.0) -> list[Note]:
    """Notifications until ``until(notes)`` holds or ``timeout`` passes."""
    notes: list[Note] = []
    deadline = time.monotonic() + timeout
    while not until(notes) and (left := deadline - time.monotonic()) > 0:
        n = take(m, timeout=min(left, 0.5))
        if n is not None:
            notes.append(n)
    return notes


def edits(note: Note) -> list[tuple[str, str, etree._Element | None]]:
    """(operation, target, value) of a push-change-update's yang-patch."""
    q = f"{{{YP}}}"
    out = []
    for e in note.body.iterfind(f"{q}datastore-changes/{q}yang-patch/{q}edit"):
        value = e.find(q + "value")
        out.append((e.findtext(q + "operation"), e.findtext(q + "target"),
                    value[0] if value is not None and len(value) else None))  # fmt: skip
    return out


def counter_value(note: Note, name: str = "pairs") -> str | None:
    q = f"{{{EX}}}"
    for c in note.body.iter(q + "counter"):
        if c.findtext(q + "name") == name:
            return c.findtext(q + "value")
    return None


# -- schema validation --------------------------------------------------------------------

YANGLINT = shutil.which("yanglint")


def yanglint(kind: str, xml: bytes, tmp: Path) -> None:
    """Validate state (``get``) or a notification (``nc-notif``) with libyang."""
    if YANGLINT is None:
        return
    path = tmp / f"check-{time.monotonic_ns()}.xml"
    path.write_bytes(xml)
    mods = [IETF / "ietf-datastores@2018-02-14.yang",
            IETF / "ietf-subscribed-notifications@2019-09-09.yang",
            IETF / "ietf-yang-push@2019-09-09.yang", *QSS.glob("*.yang"),
            IETF / "ietf-netconf-notifications@2012-02-06.yang",
            FIXTURES / "example-net.yang"]  # fmt: skip
    cmd = [YANGLINT, "-p", str(IETF), "-p", str(FIXTURES),
           "-F", "ietf-subscribed-notifications:encode-xml,subtree,xpath",
           "-F", "ietf-yang-push:on-change", "-t", kind, *map(str, mods), str(path)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stdout + out.stderr + xml.decode()
