"""The console's replica of a YANG-Push selection: push-updates and RFC 8072 patches
applied through the schema, then encoded as RFC 7951 JSON."""

from __future__ import annotations

import pytest
from lxml import etree

from qnms.app.console.feed import NETWORKS, UNITS
from qnms.app.console.replica import PatchError, Replica
from qnms.app.console.server import console_schema

SVC = "urn:qnms:yang:qnms-service"
NWS = "urn:ietf:params:xml:ns:yang:ietf-network-state"
NTS = "urn:ietf:params:xml:ns:yang:ietf-network-topology-state"
QTP = "urn:qnms:yang:qnms-topology"
YP = "urn:ietf:params:xml:ns:yang:ietf-yang-push"


@pytest.fixture(scope="module")
def schema():
    return console_schema()


def contents(xml: str) -> etree._Element:
    return etree.fromstring(f'<datastore-contents xmlns="{YP}">{xml}</datastore-contents>')


def patch(*edits: tuple[str, str, str | None]) -> etree._Element:
    body = "".join(
        f"<edit><edit-id>e{i}</edit-id><operation>{op}</operation><target>{target}</target>"
        + (f"<value>{value}</value>" if value is not None else "")
        + "</edit>"
        for i, (op, target, value) in enumerate(edits)
    )
    return etree.fromstring(f'<yang-patch xmlns="{YP}"><patch-id>p</patch-id>{body}</yang-patch>')


UNIT = (
    f'<service-units xmlns="{SVC}"><service-unit><name>su-1</name><state>admitted</state>'
    "<delivery><delivered-units>0</delivered-units></delivery></service-unit></service-units>"
)


def test_a_push_update_then_patches_give_the_new_state_as_rfc_7951(schema) -> None:
    r = Replica(schema)
    r.load(UNITS, contents(UNIT))
    touched = r.patch(
        patch(
            ("replace", "/qnms-service:service-units/service-unit=su-1/state",
             f'<state xmlns="{SVC}">active</state>'),
            ("replace", "/qnms-service:service-units/service-unit=su-1/delivery/delivered-units",
             f'<delivered-units xmlns="{SVC}">10</delivered-units>'),
            ("create", "/qnms-service:service-units/service-unit=su-2",
             f'<service-unit xmlns="{SVC}"><name>su-2</name><state>requested</state>'
             "</service-unit>"),
        )
    )  # fmt: skip
    assert touched == {UNITS}
    units = r.json(UNITS)["qnms-service:service-units"]["service-unit"]
    assert [(u["name"], u["state"]) for u in units] == [("su-1", "active"), ("su-2", "requested")]
    assert units[0]["delivery"]["delivered-units"] == "10"  # uint64: a string in RFC 7951
    r.patch(patch(("delete", "/qnms-service:service-units/service-unit=su-1", None)))
    units = r.json(UNITS)["qnms-service:service-units"]["service-unit"]
    assert [u["name"] for u in units] == ["su-2"]
    assert r.data.find(UNITS) is not None  # encoding leaves the replica whole


def test_keys_are_percent_decoded_and_module_changes_followed(schema) -> None:
    r = Replica(schema)
    net = (
        f'<networks xmlns="{NWS}"><network><network-id>default</network-id>'
        f'<link xmlns="{NTS}"><link-id>madqci/f-r1-r2</link-id>'
        f'<quantum-link xmlns="{QTP}"><kind>quantum-channel</kind><oper-state>up</oper-state>'
        "</quantum-link></link></network></networks>"
    )
    r.load(NETWORKS, contents(net))
    target = ("/ietf-network-state:networks/network=default/ietf-network-topology-state:"
              "link=madqci%2Ff-r1-r2/qnms-topology:quantum-link/oper-state")  # fmt: skip
    r.patch(patch(("replace", target, f'<oper-state xmlns="{QTP}">down</oper-state>')))
    doc = r.json(NETWORKS)["ietf-network-state:networks"]["network"][0]
    link = doc["ietf-network-topology-state:link"][0]
    assert link["qnms-topology:quantum-link"]["oper-state"] == "down"


def test_an_unknown_target_is_refused(schema) -> None:
    r = Replica(schema)
    r.load(UNITS, contents(UNIT))
    with pytest.raises(PatchError, match="unknown node"):
        r.patch(patch(("replace", "/qnms-service:service-units/nonsense", "<x/>")))


def test_identityref_prefixes_declared_far_above_survive_the_move(schema) -> None:
    """The server declares namespaces once at the root of a notification: an identity's
    prefix in text must still resolve once the node lives in the replica."""
    r = Replica(schema)
    qt = "urn:qnms:yang:qnms-types"
    node = (
        f'<networks xmlns="{NWS}"><network><network-id>default</network-id><node>'
        f'<node-id>a</node-id><quantum-node xmlns="{QTP}"><role>qt:end-node</role>'
        "</quantum-node></node></network></networks>"
    )
    root = etree.fromstring(
        f'<notification xmlns:qt="{qt}"><datastore-contents xmlns="{YP}">{node}'
        "</datastore-contents></notification>"
    )
    r.load(NETWORKS, root[0])
    role = f'<role xmlns="{QTP}" xmlns:x="{qt}">x:repeater</role>'
    target = "/ietf-network-state:networks/network=default/node=a/qnms-topology:quantum-node/role"
    doc = r.json(NETWORKS)["ietf-network-state:networks"]["network"][0]
    assert doc["node"][0]["qnms-topology:quantum-node"]["role"] == "qnms-types:end-node"
    r.patch(patch(("replace", target, role)))
    doc = r.json(NETWORKS)["ietf-network-state:networks"]["network"][0]
    assert doc["node"][0]["qnms-topology:quantum-node"]["role"] == "qnms-types:repeater"
