"""What the server says about itself: RFC 6022 netconf-state and RFC 8525 yang-library.

Clients discover a server through these trees (which modules, which revisions, which
datastores, who holds a lock, what get-schema can return), so they are produced from
the same module list and the same counters the protocol layer updates, never from a
second source that could drift. The trees are ordinary state elements: ``<get>``
merges them with the rest of the data and filters them like anything else.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from qnms.yang.errors import ErrorTag, RpcError
from qnms.yang.schema import Schema
from qnms.yang.schema_cache import cached_schema
from qnms.yang.schema_types import YangModule

log = logging.getLogger(__name__)

NCM_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
YANGLIB_NS = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
DS_NS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
YANGLIB_REVISION = "2019-01-04"
IETF_DIR = Path(__file__).parents[2] / "yang" / "ietf"

# Features of ietf-netconf that this server implements (RFC 6241 section 8 capabilities).
NETCONF_FEATURES = ("writable-running", "candidate", "confirmed-commit", "rollback-on-error",
                    "validate", "startup", "xpath")  # fmt: skip
# The protocol layer's own modules (augments of the IETF ones), served like them.
PROTOCOL_DIR = Path(__file__).parents[1] / "push" / "yang"
# Features of the RFC 8639/8641 modules this server implements: dynamic subscriptions
# only (no "configured", "replay", "dscp", "qos", JSON or interface/VRF designation).
MODULE_FEATURES = {
    "ietf-netconf": NETCONF_FEATURES,
    "ietf-subscribed-notifications": ("encode-xml", "subtree", "xpath"),
    "ietf-yang-push": ("on-change",),
}
# Modules of ietf/ that define no data we serve but are needed by others (RFC 8525
# import-only-module); everything else there is implemented.
_IMPORT_ONLY = {
    "ietf-inet-types",
    "ietf-yang-types",
    "ietf-interfaces",
    "ietf-ip",
    "ietf-netconf-acm",
    "ietf-network-instance",
    "ietf-restconf",
    "ietf-yang-patch",
    "ietf-yang-schema-mount",
}
# /netconf-state/statistics (RFC 6022): each leaf and the counter behind it, named once
# (a name built per <get> stays held by CPython's type cache and pins its memory).
_STATISTICS = tuple(
    (name, name.replace("-", "_"))
    for name in ("in-bad-hellos", "in-sessions", "dropped-sessions", "in-rpcs",
                 "in-bad-rpcs", "out-rpc-errors", "out-notifications")
)  # fmt: skip
# The modules whose state this layer serves; their schema lets filters keep list keys.
_STATE_MODULES = (
    "ietf-netconf-monitoring@2010-10-04.yang",
    f"ietf-yang-library@{YANGLIB_REVISION}.yang",
    "ietf-subscribed-notifications@2019-09-09.yang",
    "ietf-yang-push@2019-09-09.yang",
)


def rfc3339(dt: datetime | None = None) -> str:
    """``yang:date-and-time`` in UTC with an explicit offset (RFC 3339 requires one)."""
    dt = (dt or datetime.now(UTC)).astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_HEAD_RE = {
    "name": re.compile(r"^\s*module\s+([\w.-]+)", re.M),
    "namespace": re.compile(r"^\s*namespace\s+\"?([^\";\s]+)\"?\s*;", re.M),
    "prefix": re.compile(r"^\s*prefix\s+\"?([\w.-]+)\"?\s*;", re.M),
    "revision": re.compile(r"^\s*revision\s+\"?(\d{4}-\d{2}-\d{2})\"?", re.M),
}


def module_from_file(path: Path, **extra: object) -> YangModule:
    """Describe a YANG module file by its header (first revision is the newest, RFC 7950)."""
    text = path.read_text(encoding="utf-8")
    found = {}
    for key, rx in _HEAD_RE.items():
        m = rx.search(text)
        if not m:
            raise ValueError(f"{path}: no {key} statement")
        found[key] = m.group(1)
    return YangModule(path=path, **found, **extra)  # type: ignore[arg-type]  # parsed strings


def ietf_modules() -> list[YangModule]:
    """The standard modules this protocol layer implements, shipped in ``ietf/``."""
    return list(_ietf_modules())


@functools.cache
def _ietf_modules() -> tuple[YangModule, ...]:
    """Read once per process: 500 agents in one process read the same files (issue 13:
    ~3 ms of every agent's start)."""
    mods = []
    for path in sorted([*IETF_DIR.glob("*.yang"), *PROTOCOL_DIR.glob("*.yang")]):
        name = path.name.split("@")[0]
        extra: dict[str, object] = {}
        if name in _IMPORT_ONLY:
            extra["conformance"] = "import"
        if name in MODULE_FEATURES:
            extra["features"] = MODULE_FEATURES[name]
        mods.append(module_from_file(path, **extra))
    return tuple(mods)


@functools.cache
def protocol_schema() -> Schema | None:
    """The schema of the state this layer serves (monitoring, yang-library, RFC 8639
    subscriptions): filters keep list keys with it, YANG-Push names nodes with it."""
    try:
        paths = [IETF_DIR / name for name in _STATE_MODULES]
        paths += sorted(PROTOCOL_DIR.glob("*.yang"))
        features = {name: list(feats) for name, feats in MODULE_FEATURES.items()}
        # cached: a server starting with a warm cache runs no pyang (issue 13)
        return cached_schema(paths, search_dirs=[IETF_DIR], features=features)
    except Exception:  # filtering still works, only without key knowledge
        log.exception("cannot load the protocol state schema")
        return None


def served_schema(own: Schema | None) -> Schema | None:
    """The schema of everything a server answers ``<get>`` with: its datastores' modules
    and the protocol state trees (monitoring, yang-library, subscriptions). Filters keep
    list keys and compare identities with it (RFC 6241 6.2.5); each server has its own,
    so two servers with different models in one process never see each other's."""
    proto = protocol_schema()
    if proto is None:
        return own
    # Only the trees served here: a datastore's own copy of an imported module (say
    # ietf-interfaces) keeps its datastore's schema node.
    implemented = {m.namespace for m in proto.modules if m.conformance == "implement"}
    roots = {key: node for key, node in proto.roots.items() if key[0] in implemented}
    if own is None:
        return Schema(proto.modules, roots, {}, {}, proto.prefixes)
    roots.update(own.roots)
    return Schema(
        [*own.modules, *proto.modules],
        roots,
        dict(own.rpcs),
        dict(own.notifications),
        {**proto.prefixes, **own.prefixes},
    )


def merge_modules(*groups: Iterable[YangModule]) -> list[YangModule]:
    """Union by (name, revision), first wins: an agent's copy of a module overrides ours."""
    seen: dict[tuple[str, str], YangModule] = {}
    for group in groups:
        for mod in group:
            seen.setdefault((mod.name, mod.revision), mod)
    return sorted(seen.values(), key=lambda m: (m.name, m.revision))


def content_id(modules: Sequence[YangModule]) -> str:
    """RFC 8525 content-id: changes whenever the module set (or its features) changes."""
    h = hashlib.sha256()
    for m in modules:
        h.update(f"{m.name}@{m.revision}:{m.conformance}:{','.join(m.features)};".encode())
    return h.hexdigest()[:16]


@dataclass
class SessionRecord:
    """RFC 6022 per-session counters and identity."""

    session_id: int
    username: str
    source_host: str
    login_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    in_rpcs: int = 0
    in_bad_rpcs: int = 0
    out_rpc_errors: int = 0
    out_notifications: int = 0


class Monitoring:
    """Counters, sessions, locks and the module set, rendered as RFC 6022/8525 state."""

    def __init__(
        self,
        modules: Sequence[YangModule],
        datastores: Sequence[str] = ("running", "candidate", "startup"),
    ) -> None:
        self.modules = list(modules)
        self.datastores = list(datastores)
        self.content_id = content_id(self.modules)
        self.capabilities: list[str] = []
        self.start_time = datetime.now(UTC)
        self.in_bad_hellos = 0
        self.in_sessions = 0
        self.dropped_sessions = 0
        self.in_rpcs = 0
        self.in_bad_rpcs = 0
        self.out_rpc_errors = 0
        self.out_notifications = 0
        self.sessions: dict[int, SessionRecord] = {}
        self.locks: dict[str, tuple[int, datetime]] = {}
        # The datastore's own view of lock holders, when it offers one (it may lock or
        # unlock on its own, e.g. when a session ends); our records add the lock time.
        self.lock_source: Callable[[], dict[str, int]] | None = None

    # -- bookkeeping called by the protocol layer ------------------------------------

    def session_started(self, rec: SessionRecord) -> None:
        self.in_sessions += 1
        self.sessions[rec.session_id] = rec

    def session_ended(self, session_id: int, *, dropped: bool) -> None:
        if self.sessions.pop(session_id, None) is not None and dropped:
            self.dropped_sessions += 1
        self.locks = {ds: v for ds, v in self.locks.items() if v[0] != session_id}

    def rpc_received(self, rec: SessionRecord | None, *, bad: bool) -> None:
        if bad:
            self.in_bad_rpcs += 1
        else:
            self.in_rpcs += 1
        if rec is not None:
            if bad:
                rec.in_bad_rpcs += 1
            else:
                rec.in_rpcs += 1

    def rpc_error_sent(self, rec: SessionRecord | None) -> None:
        self.out_rpc_errors += 1
        if rec is not None:
            rec.out_rpc_errors += 1

    def notification_sent(self, rec: SessionRecord | None) -> None:
        self.out_notifications += 1
        if rec is not None:
            rec.out_notifications += 1

    def lock_acquired(self, datastore: str, session_id: int) -> None:
        self.locks[datastore] = (session_id, datetime.now(UTC))

    def lock_released(self, datastore: str) -> None:
        self.locks.pop(datastore, None)

    # -- get-schema -----------------------------------------------------------------

    def find_schema(self, identifier: str, version: str | None, fmt: str | None) -> YangModule:
        """RFC 6022 3.1 matching: unknown -> invalid-value, ambiguous -> data-not-unique."""
        if fmt is not None and fmt != "yang":
            raise RpcError(
                ErrorTag.INVALID_VALUE,
                f"schema format {fmt!r} is not available (only yang)",
                info=[("bad-element", "format")],
            )
        matches = [
            m for m in self.modules
            if m.name == identifier and (version is None or m.revision == version)
        ]  # fmt: skip
        if not matches:
            what = identifier + (f"@{version}" if version is not None else "")
            raise RpcError(
                ErrorTag.INVALID_VALUE,
                f"no schema {what!r} on this server",
                info=[("bad-element", "identifier")],
            )
        if len(matches) > 1:
            raise RpcError(
                ErrorTag.OPERATION_FAILED,
                f"several versions of {identifier!r}: give <version>",
                app_tag="data-not-unique",
            )
        return matches[0]

    # -- state ----------------------------------------------------------------------

    def state(self) -> list[etree._Element]:
        return [self.netconf_state(), self.yang_library(), self.modules_state()]

    def netconf_state(self) -> etree._Element:
        q = f"{{{NCM_NS}}}"
        # ``ncm`` is declared on the root: identityref values below use it, and lxml drops
        # a declaration on the leaf itself when the tree is moved into a reply.
        root = etree.Element(q + "netconf-state", nsmap={None: NCM_NS, "ncm": NCM_NS})

        def leaf(parent: etree._Element, name: str, value: object) -> etree._Element:
            el = etree.SubElement(parent, q + name)
            el.text = str(value)
            return el

        caps = etree.SubElement(root, q + "capabilities")
        for cap in self.capabilities:
            leaf(caps, "capability", cap)
        dss = etree.SubElement(root, q + "datastores")
        locks = self.locks
        if self.lock_source is not None:
            now = datetime.now(UTC)
            locks = {
                ds: (sid, self.locks[ds][1] if self.locks.get(ds, (0,))[0] == sid else now)
                for ds, sid in self.lock_source().items()
            }
        for name in self.datastores:
            ds = etree.SubElement(dss, q + "datastore")
            leaf(ds, "name", name)
            if name in locks:
                sid, when = locks[name]
                gl = etree.SubElement(etree.SubElement(ds, q + "locks"), q + "global-lock")
                leaf(gl, "locked-by-session", sid)
                leaf(gl, "locked-time", rfc3339(when))
        schemas = etree.SubElement(root, q + "schemas")
        for mod in self.modules:
            sc = etree.SubElement(schemas, q + "schema")
            leaf(sc, "identifier", mod.name)
            leaf(sc, "version", mod.revision)
            leaf(sc, "format", "ncm:yang")
            leaf(sc, "namespace", mod.namespace)
            leaf(sc, "location", "NETCONF")
        sessions = etree.SubElement(root, q + "sessions")
        for rec in self.sessions.values():
            s = etree.SubElement(sessions, q + "session")
            leaf(s, "session-id", rec.session_id)
            leaf(s, "transport", "ncm:netconf-ssh")
            leaf(s, "username", rec.username)
            leaf(s, "source-host", rec.source_host)
            leaf(s, "login-time", rfc3339(rec.login_time))
            leaf(s, "in-rpcs", rec.in_rpcs)
            leaf(s, "in-bad-rpcs", rec.in_bad_rpcs)
            leaf(s, "out-rpc-errors", rec.out_rpc_errors)
            leaf(s, "out-notifications", rec.out_notifications)
        st = etree.SubElement(root, q + "statistics")
        leaf(st, "netconf-start-time", rfc3339(self.start_time))
        for name, attr in _STATISTICS:
            leaf(st, name, getattr(self, attr))
        return root

    def yang_library(self) -> etree._Element:
        q = f"{{{YANGLIB_NS}}}"
        root = etree.Element(q + "yang-library", nsmap={None: YANGLIB_NS, "ds": DS_NS})
        mset = etree.SubElement(root, q + "module-set")
        etree.SubElement(mset, q + "name").text = "complete"
        for mod in self.modules:
            if mod.conformance != "implement":
                continue
            m = etree.SubElement(mset, q + "module")
            etree.SubElement(m, q + "name").text = mod.name
            if mod.revision:
                etree.SubElement(m, q + "revision").text = mod.revision
            etree.SubElement(m, q + "namespace").text = mod.namespace
            for feat in mod.features:
                etree.SubElement(m, q + "feature").text = feat
        for mod in self.modules:
            if mod.conformance == "implement":
                continue
            m = etree.SubElement(mset, q + "import-only-module")
            etree.SubElement(m, q + "name").text = mod.name
            etree.SubElement(m, q + "revision").text = mod.revision
            etree.SubElement(m, q + "namespace").text = mod.namespace
        schema = etree.SubElement(root, q + "schema")
        etree.SubElement(schema, q + "name").text = "complete"
        etree.SubElement(schema, q + "module-set").text = "complete"
        for name in self.datastores:
            ds = etree.SubElement(root, q + "datastore")
            etree.SubElement(ds, q + "name").text = f"ds:{name}"
            etree.SubElement(ds, q + "schema").text = "complete"
        etree.SubElement(root, q + "content-id").text = self.content_id
        return root

    def modules_state(self) -> etree._Element:
        """The deprecated RFC 7895 view, still read by older clients."""
        q = f"{{{YANGLIB_NS}}}"
        root = etree.Element(q + "modules-state", nsmap={None: YANGLIB_NS})
        etree.SubElement(root, q + "module-set-id").text = self.content_id
        for mod in self.modules:
            m = etree.SubElement(root, q + "module")
            etree.SubElement(m, q + "name").text = mod.name
            etree.SubElement(m, q + "revision").text = mod.revision
            etree.SubElement(m, q + "namespace").text = mod.namespace
            for feat in mod.features:
                etree.SubElement(m, q + "feature").text = feat
            etree.SubElement(m, q + "conformance-type").text = mod.conformance
        return root
