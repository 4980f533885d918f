"""RFC 8141 URNs: round trips, lexical equivalence and error offsets as properties of
URNs generated from the RFC 8141 / RFC 3986 ABNF (hypothesis); the examples, one case
each, are in ``test_urn.py``."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnms.service.urn import Urn, UrnError

# --- strategies following the RFC 8141 / RFC 3986 ABNF ------------------------------

ALPHANUM = string.ascii_letters + string.digits
PCHAR_LITERALS = ALPHANUM + "-._~" + "!$&'()*+,;=" + ":@"
HEXDIG = string.digits + "ABCDEFabcdef"

alphanum = st.sampled_from(ALPHANUM)
pct_encoded = st.builds(lambda a, b: f"%{a}{b}", st.sampled_from(HEXDIG), st.sampled_from(HEXDIG))
pchar = st.one_of(st.sampled_from(PCHAR_LITERALS), pct_encoded)


def _joined(first: st.SearchStrategy[str], alphabet: str) -> st.SearchStrategy[str]:
    """``first`` then runs of ``alphabet`` characters interleaved with percent-encodings.

    Runs rather than single characters keep the number of draws (and the run time) low.
    """
    rest = st.one_of(st.text(alphabet=alphabet, min_size=1, max_size=6), pct_encoded)
    return st.builds(lambda a, b: a + "".join(b), first, st.lists(rest, max_size=4))


# NID = (alphanum) 0*30(ldh) (alphanum)
nids = st.builds(
    lambda a, mid, b: a + mid + b,
    alphanum,
    st.text(alphabet=ALPHANUM + "-", max_size=30),
    alphanum,
)
# NSS = pchar *(pchar / "/")
nsss = _joined(pchar, PCHAR_LITERALS + "/")
# r-component / q-component = pchar *( pchar / "/" / "?" )
rq_text = _joined(pchar, PCHAR_LITERALS + "/?")
# "?=" ends an r-component (RFC 8141 section 2), so it cannot occur inside one.
r_components = rq_text.filter(lambda s: "?=" not in s)
q_components = rq_text
# f-component = fragment = *( pchar / "/" / "?" )
f_components = st.one_of(
    st.just(""), _joined(st.one_of(pchar, st.sampled_from("/?")), PCHAR_LITERALS + "/?")
)

urns = st.builds(
    Urn,
    nid=nids,
    nss=nsss,
    r_component=st.none() | r_components,
    q_component=st.none() | q_components,
    f_component=st.none() | f_components,
)


@st.composite
def urn_texts(draw: st.DrawFn) -> str:
    """A valid URN written directly as text, piece by piece from the ABNF."""
    text = "urn:" + draw(nids) + ":" + draw(nsss)
    if draw(st.booleans()):
        text += "?+" + draw(r_components)
    if draw(st.booleans()):
        text += "?=" + draw(q_components)
    if draw(st.booleans()):
        text += "#" + draw(f_components)
    return text


def _flip_case(draw: st.DrawFn, text: str) -> str:
    flags = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if f else c for c, f in zip(text, flags, strict=True))


def _flip_hex_case(draw: st.DrawFn, nss: str) -> str:
    """Change the case of hex digits inside percent-encodings only."""
    out = []
    i = 0
    while i < len(nss):
        if nss[i] == "%":
            out.append("%" + _flip_case(draw, nss[i + 1 : i + 3]))
            i += 3
        else:
            out.append(nss[i])
            i += 1
    return "".join(out)


FAST = settings(max_examples=200, deadline=None)

# --- properties --------------------------------------------------------------------------------


@FAST
@given(urns)
def test_printing_then_parsing_gives_back_the_same_urn(urn: Urn) -> None:
    assert Urn.parse(str(urn)) == urn


@FAST
@given(urn_texts())
def test_parsing_then_printing_gives_back_the_same_text(text: str) -> None:
    assert str(Urn.parse(text)) == text


@FAST
@given(urns)
def test_equivalence_is_reflexive(urn: Urn) -> None:
    assert urn.equivalent(urn)
    assert urn.equivalent(str(urn))


@pytest.mark.slow
@FAST
@given(urns, urns)
def test_equivalence_is_symmetric_and_agrees_with_canonical_form(a: Urn, b: Urn) -> None:
    assert a.equivalent(b) == b.equivalent(a) == (a.canonical() == b.canonical())


@pytest.mark.slow
@FAST
@given(st.data())
def test_equivalence_ignores_case_of_prefix_nid_and_hex_digits_and_all_components(
    data: st.DataObject,
) -> None:
    urn = data.draw(urns)
    text = (
        _flip_case(data.draw, "urn:")
        + _flip_case(data.draw, urn.nid)
        + ":"
        + _flip_hex_case(data.draw, urn.nss)
    )
    if data.draw(st.booleans()):
        text += "?=" + data.draw(q_components)
    if data.draw(st.booleans()):
        text += "#" + data.draw(f_components)
    variant = Urn.parse(text)
    assert urn.equivalent(variant)
    assert variant.equivalent(urn)
    assert variant.canonical() == urn.canonical()


@FAST
@given(urn_texts(), st.data())
def test_character_outside_the_grammar_in_nss_is_reported_at_its_offset(
    text: str, data: st.DataObject
) -> None:
    urn = Urn.parse(text)
    start = len("urn:") + len(urn.nid) + 1
    # Insert after a whole pchar so the bad character never splits a percent-encoding.
    cuts = [i for i in range(1, len(urn.nss) + 1) if "%" not in urn.nss[max(0, i - 2) : i]]
    cut = data.draw(st.sampled_from(cuts))
    bad = data.draw(st.sampled_from(' "<>[]\\^`{|}é\x00\t'))
    broken = f"urn:{urn.nid}:{urn.nss[:cut]}{bad}{urn.nss[cut:]}"
    with pytest.raises(UrnError) as info:
        Urn.parse(broken)
    assert info.value.offset == start + cut
    assert info.value.component == "NSS"


param_keys = st.text(min_size=1, max_size=10)
param_values = st.text(max_size=10)


@FAST
@given(urns, st.dictionaries(param_keys, param_values, max_size=5))
def test_params_round_trip_through_with_params_and_text(urn: Urn, params: dict[str, str]) -> None:
    rebuilt = urn.with_params(params)
    assert rebuilt.params() == params
    assert Urn.parse(str(rebuilt)).params() == params
    assert rebuilt.equivalent(urn)


@FAST
@given(st.lists(st.tuples(param_keys, param_values), max_size=5, unique_by=lambda kv: kv[0]))
def test_param_order_is_preserved(pairs: list[tuple[str, str]]) -> None:
    assert Urn("qkd", "x").with_params(pairs).param_items() == pairs
