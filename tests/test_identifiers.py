"""Service-unit identifiers: N endpoint URNs + one lifecycle URN (seed 5.3.1, 5.3.2)."""

from __future__ import annotations

import dataclasses
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnms.service.identifiers import IdentifierError, ServiceUnitId, new_nonce
from qnms.service.urn import Urn

SEED_ID = [
    "urn:qkd:madqci:ccips?=nonce=177923",
    "urn:qkd:quditto:emulator:ipsec:controller?=nid=af33017",
    "urn:qkd:lifecycle?=size=256&valid-until=1750708945",
]
A = "urn:qkd:madqci:ccips"
B = "urn:qkd:quditto:emulator:ipsec:controller"
C = "urn:qkd:upm:sensor"
LIFE = {"size": 256, "valid-until": 1750708945}

FAST = settings(max_examples=200, deadline=None)


def _field(excinfo: pytest.ExceptionInfo[IdentifierError]) -> str:
    return excinfo.value.field


# --- the seed's example ------------------------------------------------------------------


def test_seed_example_identifier_parses_into_two_endpoints_and_lifecycle() -> None:
    sid = ServiceUnitId.parse(SEED_ID)
    assert [str(e) for e in sid.endpoints] == SEED_ID[:2]
    assert str(sid.lifecycle) == SEED_ID[2]
    assert (sid.size, sid.valid_until, sid.fidelity) == (256, 1750708945, None)


def test_seed_example_identifier_prints_back_unchanged_endpoints_first_lifecycle_last() -> None:
    assert ServiceUnitId.parse(SEED_ID).urns() == SEED_ID


def test_endpoint_nonce_is_read_from_q_component_and_absent_nonce_is_none() -> None:
    sid = ServiceUnitId.parse(SEED_ID)
    assert sid.endpoint_nonce(0) == "177923"
    assert sid.endpoint_nonce(1) is None  # the seed's second endpoint carries nid=, not nonce=
    assert sid.nonces() == ("177923", None)


# --- build ---------------------------------------------------------------------------------


def test_build_writes_the_seed_lifecycle_urn_and_adds_given_nonces() -> None:
    sid = ServiceUnitId.build([A, B], LIFE, nonces=["177923", 42])
    assert sid.urns() == [
        f"{A}?=nonce=177923",
        f"{B}?=nonce=42",
        "urn:qkd:lifecycle?=size=256&valid-until=1750708945",
    ]


def test_build_generates_a_fresh_decimal_nonce_per_endpoint() -> None:
    first = ServiceUnitId.build([A, B], LIFE)
    second = ServiceUnitId.build([A, B], LIFE)
    nonces = [*first.nonces(), *second.nonces()]
    assert all(n is not None and n.isdigit() and n.isascii() for n in nonces)
    assert len(set(nonces)) == 4
    assert first != second


def test_new_nonce_is_an_18_digit_decimal_string() -> None:
    nonce = new_nonce()
    assert len(nonce) == 18
    assert nonce.isdigit()


def test_build_for_n_endpoints_gives_n_plus_1_urns() -> None:
    sid = ServiceUnitId.build([A, B, C], LIFE)
    assert len(sid.urns()) == 4
    assert sid.urns()[-1].startswith("urn:qkd:lifecycle?=")


def test_build_writes_entanglement_fidelity_and_extra_params_after_size_and_valid_until() -> None:
    params = {"algorithm": "aes-256", "fidelity": 0.95, "valid-until": 10, "size": 8}
    sid = ServiceUnitId.build([A, B], params, nonces=["1", "2"])
    assert str(sid.lifecycle) == (
        "urn:qkd:lifecycle?=size=8&valid-until=10&fidelity=0.95&algorithm=aes-256"
    )
    assert sid.fidelity == Decimal("0.95")
    assert sid.lifecycle_params()["algorithm"] == "aes-256"


def test_build_writes_small_float_fidelity_without_exponent() -> None:
    sid = ServiceUnitId.build([A, B], {**LIFE, "fidelity": 1e-05})
    assert sid.lifecycle_params()["fidelity"] == "0.00001"


def test_build_accepts_decimal_fidelity() -> None:
    sid = ServiceUnitId.build([A, B], {**LIFE, "fidelity": Decimal("0.990")})
    assert sid.fidelity == Decimal("0.990")


def test_build_uses_the_given_nid_for_the_lifecycle_urn() -> None:
    sid = ServiceUnitId.build([A, B], LIFE, nid="qnet")
    assert str(sid.lifecycle).startswith("urn:qnet:lifecycle?=")


def test_build_keeps_other_endpoint_params_and_replaces_an_old_nonce() -> None:
    sid = ServiceUnitId.build([f"{A}?=role=kme&nonce=1", B], LIFE, nonces=["9", "8"])
    assert str(sid.endpoints[0]) == f"{A}?=role=kme&nonce=9"


def test_build_accepts_urn_objects_as_endpoints() -> None:
    sid = ServiceUnitId.build([Urn.parse(A), Urn.parse(B)], LIFE, nonces=["1", "2"])
    assert sid == ServiceUnitId.build([A, B], LIFE, nonces=["1", "2"])


def test_build_with_wrong_number_of_nonces_is_rejected() -> None:
    with pytest.raises(IdentifierError, match="one nonce per endpoint") as info:
        ServiceUnitId.build([A, B], LIFE, nonces=["1"])
    assert _field(info) == "nonces"


@pytest.mark.parametrize("nonce", ["", -1, True, None])
def test_build_with_empty_negative_or_non_text_nonce_is_rejected(nonce: object) -> None:
    with pytest.raises(IdentifierError) as info:
        ServiceUnitId.build([A, B], LIFE, nonces=["1", nonce])  # type: ignore[list-item]
    assert _field(info) == "nonces[1]"


def test_build_with_invalid_nid_is_rejected_naming_nid() -> None:
    with pytest.raises(IdentifierError, match="must be 2-32 characters") as info:
        ServiceUnitId.build([A, B], LIFE, nid="q")
    assert _field(info) == "nid"


def test_build_with_malformed_endpoint_names_the_endpoint() -> None:
    with pytest.raises(IdentifierError, match="invalid character ' '") as info:
        ServiceUnitId.build([A, "urn:qkd:bad name"], LIFE)
    assert _field(info) == "endpoints[1]"


def test_build_without_size_is_rejected_naming_lifecycle_size() -> None:
    with pytest.raises(IdentifierError, match="missing") as info:
        ServiceUnitId.build([A, B], {"valid-until": 1})
    assert _field(info) == "lifecycle.size"


def test_build_with_boolean_lifecycle_value_is_rejected() -> None:
    with pytest.raises(IdentifierError) as info:
        ServiceUnitId.build([A, B], {"size": True, "valid-until": 1})
    assert _field(info) == "lifecycle.size"


def test_build_refuses_a_single_string_as_endpoint_list() -> None:
    with pytest.raises(TypeError):
        ServiceUnitId.build(A, LIFE)


# --- parse: structure ------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2])
def test_fewer_than_three_urns_are_rejected(count: int) -> None:
    with pytest.raises(IdentifierError, match=f"at least 3 URNs .*got {count}") as info:
        ServiceUnitId.parse(SEED_ID[-count:] if count else [])
    assert _field(info) == "urns"


def test_malformed_urn_is_rejected_naming_its_position() -> None:
    with pytest.raises(IdentifierError, match=r"urns\[1\]: NID 'q' must be 2-32") as info:
        ServiceUnitId.parse([A, "urn:q:x", SEED_ID[2]])
    assert _field(info) == "urns[1]"


def test_last_urn_that_is_not_a_lifecycle_urn_is_rejected() -> None:
    with pytest.raises(IdentifierError, match="is not a lifecycle URN") as info:
        ServiceUnitId.parse([A, B, C])
    assert _field(info) == "lifecycle"


def test_nss_merely_starting_with_the_letters_lifecycle_is_not_a_lifecycle_urn() -> None:
    with pytest.raises(IdentifierError) as info:
        ServiceUnitId.parse([A, B, "urn:qkd:lifecycles?=size=1&valid-until=1"])
    assert _field(info) == "lifecycle"


def test_lifecycle_urn_may_have_more_nss_segments_and_any_nid() -> None:
    sid = ServiceUnitId.parse([A, B, "urn:qnet:lifecycle:v1?=size=1&valid-until=0"])
    assert sid.lifecycle.nss == "lifecycle:v1"


def test_lifecycle_urn_among_endpoints_is_rejected() -> None:
    with pytest.raises(IdentifierError, match="the lifecycle URN goes last") as info:
        ServiceUnitId.parse([A, SEED_ID[2], SEED_ID[2]])
    assert _field(info) == "endpoints[1]"


def test_duplicate_endpoints_are_rejected() -> None:
    with pytest.raises(IdentifierError, match=r"same endpoint as endpoints\[0\]") as info:
        ServiceUnitId.parse([A, B, A, SEED_ID[2]])
    assert _field(info) == "endpoints[2]"


def test_endpoints_equivalent_under_rfc_8141_are_duplicates_whatever_their_nonces() -> None:
    with pytest.raises(IdentifierError) as info:
        ServiceUnitId.parse(["urn:qkd:a%2fb?=nonce=1", "URN:QKD:a%2Fb?=nonce=2", SEED_ID[2]])
    assert _field(info) == "endpoints[1]"


def test_endpoints_differing_in_nss_case_are_distinct() -> None:
    sid = ServiceUnitId.parse(["urn:qkd:Node", "urn:qkd:node", SEED_ID[2]])
    assert len(sid.endpoints) == 2


def test_endpoint_q_component_that_is_not_key_value_pairs_is_rejected() -> None:
    with pytest.raises(IdentifierError, match="has no '='") as info:
        ServiceUnitId.parse([A, f"{B}?=opaque", SEED_ID[2]])
    assert _field(info) == "endpoints[1]"


def test_parse_refuses_a_single_string() -> None:
    with pytest.raises(TypeError):
        ServiceUnitId.parse(SEED_ID[0])


def test_parse_accepts_any_iterable_of_strings() -> None:
    assert ServiceUnitId.parse(iter(SEED_ID)) == ServiceUnitId.parse(SEED_ID)


# --- parse: lifecycle parameters --------------------------------------------------------------


def _with_lifecycle(q: str) -> list[str]:
    return [A, B, f"urn:qkd:lifecycle?={q}"]


@pytest.mark.parametrize("size", ["0", "-1", "abc", "1.5", "", "+3", "1e3", "%D9%A3"])
def test_size_that_is_not_a_positive_integer_is_rejected(size: str) -> None:
    with pytest.raises(IdentifierError, match="must be a positive integer") as info:
        ServiceUnitId.parse(_with_lifecycle(f"size={size}&valid-until=1"))
    assert _field(info) == "lifecycle.size"


def test_missing_valid_until_is_rejected() -> None:
    with pytest.raises(IdentifierError, match="missing") as info:
        ServiceUnitId.parse(_with_lifecycle("size=1"))
    assert _field(info) == "lifecycle.valid-until"


@pytest.mark.parametrize("until", ["-1", "1.0", "", "soon", "2025-06-23T00:00:00Z"])
def test_valid_until_that_is_not_non_negative_epoch_seconds_is_rejected(until: str) -> None:
    with pytest.raises(IdentifierError, match="non-negative integer") as info:
        ServiceUnitId.parse(_with_lifecycle(f"size=1&valid-until={until}"))
    assert _field(info) == "lifecycle.valid-until"


def test_valid_until_of_zero_is_accepted() -> None:
    assert ServiceUnitId.parse(_with_lifecycle("size=1&valid-until=0")).valid_until == 0


@pytest.mark.parametrize("fidelity", ["1.1", "-0.1", "nan", "inf", "1e-3", "", "2", "0,5"])
def test_fidelity_outside_zero_to_one_or_not_decimal_is_rejected(fidelity: str) -> None:
    with pytest.raises(IdentifierError, match=r"decimal in \[0, 1\]") as info:
        ServiceUnitId.parse(_with_lifecycle(f"size=1&valid-until=1&fidelity={fidelity}"))
    assert _field(info) == "lifecycle.fidelity"


@pytest.mark.parametrize("fidelity", ["0", "1", "1.000", ".5", "0.95", "0."])
def test_fidelity_decimal_in_zero_to_one_is_accepted(fidelity: str) -> None:
    sid = ServiceUnitId.parse(_with_lifecycle(f"size=1&valid-until=1&fidelity={fidelity}"))
    assert sid.fidelity == Decimal(fidelity)


def test_duplicate_lifecycle_parameter_is_rejected() -> None:
    with pytest.raises(IdentifierError, match="more than once") as info:
        ServiceUnitId.parse(_with_lifecycle("size=1&size=2&valid-until=1"))
    assert _field(info) == "lifecycle"


def test_unknown_lifecycle_parameters_are_kept() -> None:
    sid = ServiceUnitId.parse(_with_lifecycle("size=1&valid-until=1&algorithm=aes"))
    assert sid.lifecycle_params() == {"size": "1", "valid-until": "1", "algorithm": "aes"}


# --- construction and identity -----------------------------------------------------------------


def test_constructor_validates_like_parse() -> None:
    lifecycle = Urn.parse(SEED_ID[2])
    with pytest.raises(IdentifierError, match="at least 2 endpoints") as info:
        ServiceUnitId((Urn.parse(A),), lifecycle)
    assert _field(info) == "endpoints"
    with pytest.raises(TypeError):
        ServiceUnitId((A, B), lifecycle)  # type: ignore[arg-type]


def test_constructor_stores_endpoints_as_a_tuple() -> None:
    sid = ServiceUnitId([Urn.parse(A), Urn.parse(B)], Urn.parse(SEED_ID[2]))  # type: ignore[arg-type]
    assert isinstance(sid.endpoints, tuple)


def test_identifier_is_immutable() -> None:
    sid = ServiceUnitId.parse(SEED_ID)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sid.lifecycle = Urn.parse(SEED_ID[2])  # type: ignore[misc]


def test_identifier_is_not_directional_endpoint_order_does_not_matter() -> None:
    forward = ServiceUnitId.parse(SEED_ID)
    backward = ServiceUnitId.parse([SEED_ID[1], SEED_ID[0], SEED_ID[2]])
    assert forward == backward
    assert hash(forward) == hash(backward)
    assert forward.key() == backward.key()
    assert {forward: "su-1"}[backward] == "su-1"
    assert backward.urns()[0] == SEED_ID[1]  # the written order is still kept


def test_identifiers_with_different_nonces_are_different() -> None:
    other = [SEED_ID[0].replace("177923", "177924"), *SEED_ID[1:]]
    assert ServiceUnitId.parse(SEED_ID) != ServiceUnitId.parse(other)


def test_identifiers_with_different_lifecycles_are_different() -> None:
    other = [*SEED_ID[:2], SEED_ID[2].replace("256", "512")]
    assert ServiceUnitId.parse(SEED_ID) != ServiceUnitId.parse(other)


def test_identifier_is_not_equal_to_its_urn_list() -> None:
    assert ServiceUnitId.parse(SEED_ID) != SEED_ID


def test_identifier_error_is_a_value_error_carrying_the_field() -> None:
    error = IdentifierError("lifecycle.size", "must be a positive integer")
    assert isinstance(error, ValueError)
    assert str(error) == "lifecycle.size: must be a positive integer"


# --- properties ----------------------------------------------------------------------------------

endpoint_names = st.lists(
    st.lists(
        st.text(alphabet="abcdefghij0123", min_size=1, max_size=6), min_size=1, max_size=3
    ).map(lambda segments: "urn:qkd:" + ":".join(segments)),
    min_size=2,
    max_size=5,
    unique=True,
)
lifecycles = st.fixed_dictionaries(
    {"size": st.integers(1, 2**32), "valid-until": st.integers(0, 2**40)},
    optional={
        "fidelity": st.decimals(0, 1, places=3),
        "algorithm": st.text(min_size=1, max_size=8),
    },
)


@pytest.mark.slow
@FAST
@given(endpoint_names, lifecycles)
def test_built_identifier_survives_printing_and_parsing(
    names: list[str], params: dict[str, object]
) -> None:
    sid = ServiceUnitId.build(names, params)  # type: ignore[arg-type]
    again = ServiceUnitId.parse(sid.urns())
    assert again == sid
    assert again.urns() == sid.urns()
    assert (again.size, again.valid_until) == (params["size"], params["valid-until"])


@FAST
@given(endpoint_names, lifecycles, st.randoms(use_true_random=False))
def test_any_permutation_of_endpoints_gives_an_equal_identifier_with_equal_hash(
    names: list[str], params: dict[str, object], rng: random.Random
) -> None:
    sid = ServiceUnitId.build(names, params)  # type: ignore[arg-type]
    *endpoints, lifecycle = sid.urns()
    rng.shuffle(endpoints)
    shuffled = ServiceUnitId.parse([*endpoints, lifecycle])
    assert shuffled == sid
    assert hash(shuffled) == hash(sid)
    assert shuffled.key() == sid.key()
