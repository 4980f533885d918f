"""RFC 8141 URNs: syntax, lexical equivalence and the seed's q-component parameters,
by example (the same properties over generated URNs: ``test_urn_properties.py``)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from qnms.service.urn import Urn, UrnError

# --- the seed's examples ---------------------------------------------------------------

SEED_EXAMPLES = [
    "urn:qkd:madqci:ccips?=nonce=177923",
    "urn:qkd:quditto:emulator:ipsec:controller?=nid=af33017",
    "urn:qkd:lifecycle?=size=256&valid-until=1750708945",
]


@pytest.mark.parametrize("text", SEED_EXAMPLES)
def test_seed_example_urns_parse_and_print_back_unchanged(text: str) -> None:
    assert str(Urn.parse(text)) == text


def test_seed_endpoint_urn_splits_into_nid_nss_and_q_component() -> None:
    urn = Urn.parse("urn:qkd:madqci:ccips?=nonce=177923")
    assert urn == Urn("qkd", "madqci:ccips", q_component="nonce=177923")
    assert urn.params() == {"nonce": "177923"}


def test_seed_lifecycle_urn_parameters_are_read_in_order() -> None:
    urn = Urn.parse("urn:qkd:lifecycle?=size=256&valid-until=1750708945")
    assert urn.param_items() == [("size", "256"), ("valid-until", "1750708945")]


# --- prefix and NID -------------------------------------------------------------------


def test_urn_prefix_is_case_insensitive_and_written_back_lowercase() -> None:
    urn = Urn.parse("UrN:qkd:x")
    assert urn == Urn("qkd", "x")
    assert str(urn) == "urn:qkd:x"


def test_text_not_starting_with_urn_prefix_is_rejected() -> None:
    with pytest.raises(UrnError, match=r"must start with 'urn:' \(got 'uri:'\)") as info:
        Urn.parse("uri:qkd:x")
    assert info.value.component == "prefix"
    assert info.value.offset == 0


def test_nid_shorter_than_2_characters_is_rejected() -> None:
    with pytest.raises(UrnError, match="NID 'a' must be 2-32 characters"):
        Urn.parse("urn:a:x")


def test_nid_longer_than_32_characters_is_rejected() -> None:
    with pytest.raises(UrnError, match="must be 2-32 characters"):
        Urn.parse("urn:" + "a" * 33 + ":x")


@pytest.mark.parametrize("nid", ["ab", "a" * 32, "a-b", "x-1-y", "0-9"])
def test_nid_of_2_to_32_letters_digits_and_inner_hyphens_is_accepted(nid: str) -> None:
    assert Urn.parse(f"urn:{nid}:x").nid == nid


def test_nid_starting_with_hyphen_is_rejected() -> None:
    with pytest.raises(UrnError, match="must not start with a hyphen"):
        Urn.parse("urn:-ab:x")


def test_nid_ending_with_hyphen_is_rejected() -> None:
    with pytest.raises(UrnError, match="must not end with a hyphen"):
        Urn.parse("urn:ab-:x")


def test_nid_with_character_outside_letters_digits_hyphen_is_rejected_at_its_offset() -> None:
    with pytest.raises(UrnError, match="invalid character '_' at offset 5 in NID") as info:
        Urn.parse("urn:a_b:x")
    assert (info.value.component, info.value.offset) == ("NID", 5)


def test_nid_with_non_ascii_letter_is_rejected() -> None:
    with pytest.raises(UrnError, match="in NID"):
        Urn.parse("urn:qké:x")


def test_urn_without_colon_after_nid_is_rejected() -> None:
    with pytest.raises(UrnError, match="missing ':' between NID and NSS"):
        Urn.parse("urn:qkd")


# --- NSS ---------------------------------------------------------------------------------


def test_empty_nss_is_rejected() -> None:
    with pytest.raises(UrnError, match=r"NSS must not be empty \(offset 8\)"):
        Urn.parse("urn:qkd:")


def test_nss_starting_with_slash_is_rejected() -> None:
    with pytest.raises(UrnError, match="NSS must not start with '/'"):
        Urn.parse("urn:qkd:/a")


def test_nss_may_contain_slashes_colons_and_sub_delims_after_first_character() -> None:
    text = "urn:qkd:a/b:c@d!$&'()*+,;=-._~"
    assert Urn.parse(text).nss == text[len("urn:qkd:") :]


def test_invalid_percent_encoding_is_rejected_with_its_text_and_offset() -> None:
    with pytest.raises(UrnError, match="invalid percent-encoding '%G1' at offset 12 in NSS"):
        Urn.parse("urn:example:%G1")


def test_truncated_percent_encoding_at_end_of_nss_is_rejected() -> None:
    with pytest.raises(UrnError, match="invalid percent-encoding '%4' at offset 8 in NSS"):
        Urn.parse("urn:qkd:%4")


@pytest.mark.parametrize("char", [" ", '"', "<", "[", "\\", "^", "`", "{", "|", "é"])
def test_character_outside_pchar_in_nss_is_rejected(char: str) -> None:
    with pytest.raises(UrnError, match=re.escape(f"invalid character {char!r} at offset 9 in NSS")):
        Urn.parse(f"urn:qkd:a{char}b")


# --- r-, q- and f-components ---------------------------------------------------------------


def test_all_three_components_are_split_in_rfc_order() -> None:
    urn = Urn.parse("urn:qkd:x?+res/a?b?=q=1/?#frag/?")
    assert (urn.r_component, urn.q_component, urn.f_component) == ("res/a?b", "q=1/?", "frag/?")


def test_r_component_ends_at_first_question_equals() -> None:
    urn = Urn.parse("urn:qkd:x?+a??=b")
    assert (urn.r_component, urn.q_component) == ("a?", "b")


def test_question_plus_after_q_component_is_part_of_q_component() -> None:
    urn = Urn.parse("urn:qkd:x?=a?+b")
    assert (urn.r_component, urn.q_component) == (None, "a?+b")


@pytest.mark.parametrize("text", ["urn:qkd:x?", "urn:qkd:x?a", "urn:qkd:x?-r", "urn:qkd:x?#f"])
def test_question_mark_not_introducing_r_or_q_component_is_rejected(text: str) -> None:
    with pytest.raises(UrnError, match="at offset 9: '\\?' must introduce"):
        Urn.parse(text)


def test_empty_r_component_is_rejected() -> None:
    with pytest.raises(UrnError, match=r"r-component must not be empty \(offset 11\)"):
        Urn.parse("urn:qkd:x?+?=a")


def test_empty_q_component_is_rejected() -> None:
    with pytest.raises(UrnError, match="q-component must not be empty"):
        Urn.parse("urn:qkd:x?=#f")


def test_q_component_starting_with_slash_is_rejected() -> None:
    with pytest.raises(UrnError, match="q-component must not start with '/'"):
        Urn.parse("urn:qkd:x?=/a")


def test_invalid_percent_encoding_in_q_component_is_reported_in_q_component() -> None:
    with pytest.raises(
        UrnError, match="invalid percent-encoding '%zz' at offset 17 in q-component"
    ):
        Urn.parse("urn:qkd:x?=nonce=%zz")


def test_empty_f_component_is_kept_distinct_from_absent_one() -> None:
    assert Urn.parse("urn:qkd:x#").f_component == ""
    assert Urn.parse("urn:qkd:x").f_component is None
    assert str(Urn.parse("urn:qkd:x#")) == "urn:qkd:x#"


def test_hash_inside_f_component_is_rejected() -> None:
    with pytest.raises(UrnError, match="invalid character '#' at offset 11 in f-component"):
        Urn.parse("urn:qkd:x#a#b")


# --- construction --------------------------------------------------------------------------


def test_constructor_validates_components_like_parse() -> None:
    with pytest.raises(UrnError, match="NID 'a' must be 2-32 characters"):
        Urn("a", "x")
    with pytest.raises(UrnError, match="invalid percent-encoding '%G1' at offset 1 in NSS"):
        Urn("qkd", "a%G1")
    with pytest.raises(UrnError, match="q-component must not be empty"):
        Urn("qkd", "x", q_component="")


def test_r_component_containing_question_equals_is_rejected_as_ambiguous() -> None:
    with pytest.raises(UrnError, match="must not contain '\\?='"):
        Urn("qkd", "x", r_component="a?=b")


def test_components_of_wrong_type_are_rejected() -> None:
    with pytest.raises(TypeError):
        Urn("qkd", 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Urn.parse(b"urn:qkd:x")  # type: ignore[arg-type]


def test_urn_is_immutable_and_hashable() -> None:
    urn = Urn.parse("urn:qkd:x?=a=1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        urn.nss = "y"  # type: ignore[misc]
    assert {urn: 1}[Urn.parse("urn:qkd:x?=a=1")] == 1


def test_urn_error_is_a_value_error() -> None:
    assert issubclass(UrnError, ValueError)


# --- lexical equivalence (RFC 8141 section 3.1) ----------------------------------------------


def test_canonical_form_lowercases_prefix_and_nid_uppercases_hex_and_drops_components() -> None:
    assert Urn.parse("URN:QKD:A%2fb%c3%a9?+r?=q#f").canonical() == "urn:qkd:A%2Fb%C3%A9"


def test_nss_is_compared_case_sensitively() -> None:
    assert not Urn.parse("urn:qkd:Madqci").equivalent("urn:qkd:madqci")


def test_percent_encoding_is_not_decoded_for_equivalence() -> None:
    assert not Urn.parse("urn:qkd:%41").equivalent("urn:qkd:A")


def test_endpoints_differing_only_in_nonce_are_equivalent() -> None:
    assert Urn.parse("urn:qkd:madqci:ccips?=nonce=1").equivalent("urn:qkd:madqci:ccips?=nonce=2")


def test_equivalence_rejects_malformed_string_argument() -> None:
    with pytest.raises(UrnError):
        Urn.parse("urn:qkd:x").equivalent("urn:q:x")


def test_assigned_name_and_without_components_drop_r_q_f() -> None:
    urn = Urn.parse("urn:QKD:x?+r?=q#f")
    assert urn.assigned_name == "urn:QKD:x"
    assert urn.without_components() == Urn("QKD", "x")


# --- q-component parameters ------------------------------------------------------------------


def test_absent_q_component_has_no_params() -> None:
    assert Urn.parse("urn:qkd:x").params() == {}


def test_param_value_may_contain_equals_sign_after_the_first() -> None:
    assert Urn.parse("urn:qkd:x?=a=b=c").params() == {"a": "b=c"}


def test_param_keys_and_values_are_percent_decoded_as_utf8() -> None:
    assert Urn.parse("urn:qkd:x?=k%26=v%3D%C3%A9+").params() == {"k&": "v=é+"}


def test_param_without_equals_sign_is_rejected() -> None:
    with pytest.raises(UrnError, match=r"parameter 1 \('flag'\) has no '='"):
        Urn.parse("urn:qkd:x?=a=1&flag").params()


def test_param_with_empty_key_is_rejected() -> None:
    with pytest.raises(UrnError, match="empty key"):
        Urn.parse("urn:qkd:x?==1").params()


def test_param_given_twice_is_rejected_by_params_but_listed_by_param_items() -> None:
    urn = Urn.parse("urn:qkd:x?=nonce=1&nonce=2")
    assert urn.param_items() == [("nonce", "1"), ("nonce", "2")]
    with pytest.raises(UrnError, match="'nonce' is given more than once"):
        urn.params()


def test_param_that_is_not_utf8_is_rejected() -> None:
    with pytest.raises(UrnError, match="not percent-encoded UTF-8"):
        Urn.parse("urn:qkd:x?=a=%FF").params()


def test_with_params_replaces_q_component_and_keeps_r_and_f() -> None:
    urn = Urn.parse("urn:qkd:x?+r?=old=1#f")
    new = urn.with_params({"size": "256", "valid-until": "1750708945"})
    assert str(new) == "urn:qkd:x?+r?=size=256&valid-until=1750708945#f"
    assert str(urn) == "urn:qkd:x?+r?=old=1#f"


def test_with_params_accepts_keyword_arguments_after_the_mapping() -> None:
    urn = Urn.parse("urn:qkd:madqci:ccips").with_params([("a", "1")], nonce="177923")
    assert str(urn) == "urn:qkd:madqci:ccips?=a=1&nonce=177923"


def test_with_no_params_removes_q_component() -> None:
    assert Urn.parse("urn:qkd:x?=a=1").with_params({}).q_component is None


def test_with_params_percent_encodes_separators_escape_plus_and_non_ascii_in_uppercase() -> None:
    urn = Urn.parse("urn:qkd:x").with_params({"a&b": "c=d%e+f é/?"})
    assert urn.q_component == "a%26b=c%3Dd%25e%2Bf%20%C3%A9%2F%3F"


def test_with_params_rejects_empty_key_duplicate_key_and_non_text_value() -> None:
    urn = Urn.parse("urn:qkd:x")
    with pytest.raises(UrnError, match="must not be empty"):
        urn.with_params({"": "1"})
    with pytest.raises(UrnError, match="more than once"):
        urn.with_params({"nonce": "1"}, nonce="2")
    with pytest.raises(TypeError):
        urn.with_params({"size": 256})  # type: ignore[dict-item]
