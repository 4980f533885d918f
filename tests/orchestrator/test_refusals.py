"""Bad requests get a precise rpc-error on the edit itself and change nothing anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from ncclient.operations import RPCError
from orch_support import ALICE, BOB, NS, allocations, connect, delete_xml, poll, unit_xml

from qnms.orchestrator.northbound import Orchestrator
from qnms.yang.errors import ErrorTag
from qnms.yang.errors import RpcError as RpcError_

if TYPE_CHECKING:  # the fixture's type
    from orch_fleet import Fleet


@pytest.fixture(scope="module")
def orch(shared_fleet: Fleet) -> Iterator[Orchestrator]:
    yield shared_fleet.start_orchestrator()


def refused(orch: Orchestrator, config: str) -> RPCError:
    with connect(orch.port) as m:
        with pytest.raises(RPCError) as info:
            m.edit_config(target="running", config=config)
        assert m.get_config(source="running").data_ele.find(".//s:service-unit", NS) is None
    return info.value


def assert_nothing_allocated(fleet: Fleet) -> None:
    for key, agent in fleet.agents.items():
        assert not any(allocations(agent.port).values()), key


UNIT = "/svc:service-units/svc:service-unit[svc:name='bad']"


@pytest.mark.parametrize(
    ("config", "tag", "app_tag", "path"),
    [
        pytest.param(
            unit_xml("bad", endpoints=(ALICE, "urn:qkd:madqci:nobody")),
            "invalid-value",
            "unknown-endpoint",
            UNIT + "/svc:endpoint[svc:urn='urn:qkd:madqci:nobody']/svc:urn",
            id="unknown-endpoint",
        ),
        pytest.param(
            unit_xml("bad", endpoints=(BOB, ALICE), service_type="qkd-key"),
            "invalid-value",
            "service-type-not-allowed",
            UNIT + "/svc:service-type",
            id="service-type-not-allowed",
        ),
        pytest.param(
            unit_xml("bad", qos="<swapping-depth-cap>0</swapping-depth-cap>"),
            "invalid-value",
            "swapping-depth-cap",
            UNIT + "/svc:qos/svc:swapping-depth-cap",
            id="depth-cap-below-shortest-path",
        ),
    ],
)
def test_an_unservable_request_is_refused_with_reason_and_field(
    orch: Orchestrator, shared_fleet: Fleet, config: str, tag: str, app_tag: str, path: str
) -> None:
    err = refused(orch, config)
    assert (err.tag, err.app_tag) == (tag, app_tag), err.message
    assert err.path.strip() == path
    assert_nothing_allocated(shared_fleet)


def test_a_fidelity_above_one_is_refused_by_the_schema(orch: Orchestrator) -> None:
    err = refused(orch, unit_xml("bad", qos="<target-fidelity>1.5</target-fidelity>"))
    assert err.tag == "invalid-value"
    assert err.path.strip().endswith("svc:qos/svc:target-fidelity")


def test_an_unreachable_target_fidelity_is_refused_with_the_best_achievable_value(
    orch: Orchestrator, shared_fleet: Fleet
) -> None:
    err = refused(orch, unit_xml("bad", qos="<target-fidelity>0.99</target-fidelity>"))
    assert (err.tag, err.app_tag) == ("invalid-value", "target-fidelity-unreachable")
    assert err.path.strip() == UNIT + "/svc:qos/svc:target-fidelity"
    best = float(err.message.split("best achievable ")[1].split()[0])
    assert 0.8 < best < 0.99
    assert_nothing_allocated(shared_fleet)


def test_a_duplicate_name_is_refused_and_the_first_unit_is_untouched(
    orch: Orchestrator, shared_fleet: Fleet
) -> None:
    with connect(orch.port) as m:
        m.edit_config(target="running", config=unit_xml("dup"))
        poll(lambda: orch.controller.records["dup"].state.value == "establishing" or None)
        before = {k: allocations(a.port) for k, a in shared_fleet.agents.items()}
        for config, app_tag in [
            (unit_xml("dup", operation="create"), None),
            (unit_xml("dup", qos="<target-fidelity>0.7</target-fidelity>"), "service-unit-exists"),
        ]:
            with pytest.raises(RPCError) as info:
                m.edit_config(target="running", config=config)
            assert info.value.tag == "data-exists"
            assert info.value.app_tag == app_tag
        assert {k: allocations(a.port) for k, a in shared_fleet.agents.items()} == before
        target = m.get_config(source="running").data_ele.find(".//s:target-fidelity", NS)
        assert target.text == "0.8"
        m.edit_config(target="running", config=delete_xml("dup"))
    poll(lambda: "dup" not in orch.controller.records or None, 20, "release of dup")
    assert_nothing_allocated(shared_fleet)


def test_the_access_hook_can_refuse_a_request_before_admission(shared_fleet: Fleet) -> None:
    def only_admin_may_use_teleport(session_id: int, intent) -> None:
        if BOB in intent.endpoints:
            raise RpcError_(ErrorTag.ACCESS_DENIED, "not your endpoint", app_tag="foreign-endpoint")

    guarded = shared_fleet.start_orchestrator(
        shared_fleet.root / "guarded", access_check=only_admin_may_use_teleport
    )
    err = refused(guarded, unit_xml("bad"))
    assert (err.tag, err.app_tag) == ("access-denied", "foreign-endpoint")
    assert_nothing_allocated(shared_fleet)
    shared_fleet.stop_orchestrator(guarded)
