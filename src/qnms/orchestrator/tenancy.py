"""Northbound access per application (issue 10; RFC 8341 on the orchestrator's server).

Who is who. Every registered application (qnms-service ``applications/application``)
is a tenant. A NETCONF user acts for an application when the user name is the
application's ``name`` or its ``owner`` (the leaf the model reserves for access
control), so a NOC owning several applications logs in once and sees all of them.
Users of the NACM group ``admin`` (operators) see and touch everything: the users
named in ``OrchestratorConfig.admins``, or, when that is not given, every configured
user who acts for no application (so a single ``--user`` login stays an operator).
Passwords come from the orchestrator's users (``OrchestratorConfig.users``), never
from the registry.

What a tenant may do. A service unit is *its own* when the originator or one of the
endpoints is one of its applications' endpoint URNs. It sees only its own units
(``<get>``, ``<get-config>`` of any datastore, YANG-Push updates), receives only
their ``service-unit-state-change`` and config-change notifications, and may create,
change or delete only its own units; the registry itself is readable (a tenant must
learn its peers' endpoint URNs to ask for a pair) but not writable.

Why not NACM rules alone. NACM path rules select instances by key, and the key of a
unit is its name, chosen by the requester; "originator or an endpoint equals my URN"
is a condition on non-key leaves that RFC 8341 cannot express. So the division of
labour is: the NACM rules derived from the registry (installed as the server's NACM
configuration, rebuilt whenever the registry changes) decide *which modules and
subtrees* a tenant may write (service units: yes; applications: no, by the default
``write-default deny``); this module decides *which instances*, by wrapping the
core's ``AccessControl`` at its three read doors (``prune``, ``view``,
``notification_view``) and adding a datastore write check that refuses, with
``access-denied``, any created, changed or deleted unit that is not the writer's.
Local handles never reach the northbound at all: they are not in qnms-service.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lxml import etree

from qnms.netconf.protocol.nacm import NACM_NS, initial_config
from qnms.orchestrator.intent import PATH_NS, SVC, read_applications, read_units
from qnms.yang.errors import ErrorTag, RpcError

if TYPE_CHECKING:
    from qnms.netconf.protocol.access import AccessControl
    from qnms.netconf.protocol.notifications import Event
    from qnms.netconf.protocol.session import NetconfSession

log = logging.getLogger(__name__)
ADMIN_GROUP = "admin"
TENANT_GROUP = "applications"
NCN_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
_S = f"{{{SVC}}}"
_N = f"{{{NACM_NS}}}"
_UNIT_KEY = re.compile(r"service-unit\[(?:\w+:)?name=(['\"])(.*?)\1\]")


def nacm_rules(admins: list[str], tenants: list[str]) -> etree._Element:
    """The orchestrator's ``/nacm``: operators permitted everything (rule-list
    ``admin``), tenants permitted to write service units (rule-list ``applications``);
    everything else keeps the RFC 8341 defaults (read permit, write deny)."""
    nacm = initial_config({ADMIN_GROUP: admins, TENANT_GROUP: tenants})
    rl = etree.SubElement(nacm, _N + "rule-list")
    etree.SubElement(rl, _N + "name").text = TENANT_GROUP
    etree.SubElement(rl, _N + "group").text = TENANT_GROUP
    rule = etree.SubElement(rl, _N + "rule", nsmap={"svc": SVC})
    etree.SubElement(rule, _N + "name").text = "own-service-units"
    etree.SubElement(rule, _N + "module-name").text = "qnms-service"
    etree.SubElement(rule, _N + "path").text = "/svc:service-units"
    etree.SubElement(rule, _N + "access-operations").text = "create update delete"
    etree.SubElement(rule, _N + "action").text = "permit"
    return nacm


class Tenancy:
    """Per-application visibility and write rights over service units.

    Installed over a server's ``AccessControl`` (``install``): it replaces the core's
    access object with itself, delegating every NACM decision, and narrows reads to
    the reader's own units afterwards.
    """

    def __init__(self, access: AccessControl, admins: list[str] | None, users: list[str]) -> None:
        self.nacm = access
        self.fixed_admins = admins
        self.users = list(users)
        self.admins: list[str] = []
        self.endpoints: dict[str, frozenset[str]] = {}  # user -> endpoint URNs
        self.units: dict[str, frozenset[str]] = {}  # unit name -> originator + endpoints
        self.denied_units = 0

    def __getattr__(self, name: str) -> Any:  # everything else is plain NACM
        return getattr(self.nacm, name)

    # -- the registry --------------------------------------------------------------

    def refresh(self, running: etree._Element) -> None:
        """Re-read the registry and the units from running; rebuild the NACM rules
        when the set of tenants changed."""
        users: dict[str, set[str]] = {}
        for app in read_applications(running).values():
            for user in (app.name, app.owner):
                if user:
                    users.setdefault(user, set()).add(app.endpoint)
        endpoints = {u: frozenset(e) for u, e in users.items()}
        for name, intent in read_units(running).items():
            self.units[name] = frozenset((intent.originator, *intent.endpoints))
        if endpoints.keys() != self.endpoints.keys() or not self.endpoints:
            fixed = self.fixed_admins
            self.admins = fixed if fixed is not None else [u for u in self.users if u not in users]
            self.nacm.bootstrap = nacm_rules(self.admins, sorted(endpoints))
            self.nacm.reload()
        self.endpoints = endpoints

    # -- decisions -----------------------------------------------------------------

    def is_operator(self, user: str | None) -> bool:
        return self.nacm.bypass(user) or ADMIN_GROUP in self.nacm.config.groups_of(user or "")

    def owns(self, user: str, urns: frozenset[str] | set[str]) -> bool:
        return bool(self.endpoints.get(user, frozenset()) & urns)

    def _hide_foreign(self, user: str | None, data: etree._Element) -> int:
        if self.is_operator(user):
            return 0
        removed = 0
        for units in data.iter(_S + "service-units"):
            for unit in list(units.iterfind(_S + "service-unit")):
                if not self.owns(user or "", _unit_urns(unit, self.units)):
                    units.remove(unit)
                    removed += 1
        return removed

    # -- the read doors of AccessControl ------------------------------------------

    def prune(self, user: str | None, data: etree._Element) -> int:
        return self.nacm.prune(user, data) + self._hide_foreign(user, data)

    def view(self, user: str | None, data: etree._Element) -> etree._Element:
        seen = self.nacm.view(user, data)
        if self.is_operator(user) or not any(True for _ in seen.iter(_S + "service-unit")):
            return seen
        out = seen if seen is not data else copy.deepcopy(data)
        self._hide_foreign(user, out)
        return out

    def notification_view(self, session: NetconfSession, event: Event) -> Event | None:
        """State changes and config changes of foreign units are not delivered."""
        seen = self.nacm.notification_view(session, event)
        user = session.username
        if seen is None or self.is_operator(user):
            return seen
        content = seen.content
        if content.tag == _S + "service-unit-state-change":
            name = (content.findtext(_S + "name") or "").strip()
            if not self.owns(user, self.units.get(name, frozenset())):
                self.denied_units += 1
                return None
            return seen
        if content.tag == f"{{{NCN_NS}}}netconf-config-change":
            edits = content.findall(f"{{{NCN_NS}}}edit")
            foreign = [e for e in edits if not self._edit_visible(user, e)]
            if not foreign:
                return seen
            if len(foreign) == len(edits):
                self.denied_units += 1
                return None
            out = copy.deepcopy(content)
            for e in out.findall(f"{{{NCN_NS}}}edit"):
                if not self._edit_visible(user, e):
                    out.remove(e)
            return replace(seen, content=out)
        return seen

    def _edit_visible(self, user: str, edit: etree._Element) -> bool:
        match = _UNIT_KEY.search(edit.findtext(f"{{{NCN_NS}}}target") or "")
        return match is None or self.owns(user, self.units.get(match.group(2), frozenset()))

    # -- writes ----------------------------------------------------------------------

    def check_write(self, target: str, old: etree._Element, new: etree._Element, sid: int) -> None:
        """Datastore write check (any target): a tenant's write may create, change or
        delete only its own units; its view of a foreign unit is nothing to change."""
        user = self.nacm.user_of(sid) if sid else None
        if self.is_operator(user):
            return
        assert user is not None
        before, after = read_units(old), read_units(new)
        for name in sorted(before.keys() | after.keys()):
            b, a = before.get(name), after.get(name)
            if b is not None and a is not None and b.fingerprint == a.fingerprint:
                continue
            for intent in (b, a):
                if intent is None:
                    continue
                urns = frozenset((intent.originator, *intent.endpoints))
                if not self.owns(user, urns):
                    self.denied_units += 1
                    log.info("tenancy: %s denied a write to unit %r in %s", user, name, target)
                    raise RpcError(
                        ErrorTag.ACCESS_DENIED,
                        f"service unit {name!r} is not one of {user}'s: its originator and "
                        "endpoints are no endpoint of the applications this user acts for",
                        app_tag="foreign-endpoint",
                        path=f"/svc:service-units/svc:service-unit[svc:name='{name}']",
                        path_ns=dict(PATH_NS),
                        info=[("bad-element", "service-unit")],
                    )


def _unit_urns(unit: etree._Element, known: dict[str, frozenset[str]]) -> frozenset[str]:
    """A unit's originator and endpoints: from running by its name (a filtered tree
    may carry only some of them, or only state), else from the element itself (a
    candidate's unit not yet in running)."""
    hit = known.get((unit.findtext(_S + "name") or "").strip())
    if hit is not None:
        return hit
    urns = {(unit.findtext(_S + "originator") or "").strip()}
    urns |= {(u.text or "").strip() for u in unit.iterfind(f"{_S}endpoint/{_S}urn")}
    return frozenset(urns - {""})


def install(server: Any, datastores: Any, admins: list[str] | None, users: list[str]) -> Tenancy:
    """Put a ``Tenancy`` in front of ``server``'s NACM; the caller refreshes it on
    every change of running, before anything publishes about the change."""
    tenancy = Tenancy(server.access, admins, users)
    tenancy.refresh(datastores.get_config("running"))
    server.core.access = tenancy
    datastores.write_checks.insert(1, tenancy.check_write)  # after NACM's own check
    return tenancy
