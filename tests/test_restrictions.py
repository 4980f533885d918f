"""Type restrictions checked without pyang agree with pyang's own checks.

``restrictions.from_pyang`` summarises pyang's resolved type specs so the schema can be
cached; ``Restrictions.check`` must then accept and refuse exactly what pyang's
``str_to_val`` + ``validate`` do, through typedef chains, 'min'/'max', single values,
several patterns, invert-match, bits and binary lengths. The one intended difference
is the lexical form of integers: XML values are decimal (RFC 7950 9.2.1), while pyang
also reads YANG's 0x.. and 0.. (octal) forms.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from pyang import context, repository

from qnms.yang.restrictions import Restrictions, from_pyang

MODULE = """
module restricted {
  yang-version 1.1;
  namespace "urn:example:restricted";
  prefix r;

  typedef small { type int16 { range "min..10 | 20..max"; } }
  typedef smaller { type small { range "-3..5 | 20 | 30..40"; } }
  typedef code {
    type string {
      length "2..4 | 8";
      pattern '[A-Z0-9]+';
      pattern 'X.*' { modifier invert-match; }
    }
  }
  typedef ratio { type decimal64 { fraction-digits 2; range "-1.5..1.5"; } }

  leaf i8 { type int8; }
  leaf u64 { type uint64; }
  leaf smaller { type smaller; }
  leaf capped { type smaller { range "0..5"; } }
  leaf code { type code; }
  leaf longer-code { type code { length "4"; } }
  leaf ratio { type ratio; }
  leaf plain-dec { type decimal64 { fraction-digits 18; } }
  leaf blob { type binary { length "1..3"; } }
  leaf flags { type bits { bit a; bit b; bit c; } }
  leaf any { type string; }
  leaf choice { type enumeration { enum x; enum y; } }
  leaf on { type boolean; }
}
"""

VALUES = {
    "i8": ["0", "-128", "127", "128", "-129", "+5", "12a", ""],
    "u64": ["0", "18446744073709551615", "18446744073709551616", "-1"],
    "smaller": ["-3", "-4", "5", "6", "20", "21", "30", "40", "41", "-32768", "x"],
    "capped": ["0", "5", "-1", "6", "20"],
    "code": ["AB", "A", "ABCD", "ABCDE", "ABCDEFGH", "ab", "XAB", "AXB", "A B", "ÄB"],
    "longer-code": ["ABCD", "ABC", "ABCDEFGH"],
    # (too many fraction digits: ``values`` refuses them before any restriction)
    "ratio": ["0", "1.5", "1.51", "-1.5", "-1.50", "1.6", "abc", "1.", ".5"],
    "plain-dec": ["9.223372036854775807", "9.223372036854775808", "-9.223372036854775808"],
    "blob": ["AQ==", "AQID", "AQIDBA==", "", "!!!"],
    "flags": ["a", "a c", "", "b a", "d", "a d"],
    "any": ["", "anything at all"],
}


@pytest.fixture(scope="module")
def leaves(tmp_path_factory) -> dict[str, object]:
    """pyang's resolved type spec of every leaf of MODULE."""
    d: Path = tmp_path_factory.mktemp("yang")
    (d / "restricted.yang").write_text(MODULE)
    ctx = context.Context(repository.FileRepository(str(d), use_env=False))
    mod = ctx.add_module("restricted.yang", MODULE)
    ctx.validate()
    assert mod is not None and not [e for e in ctx.errors if e[1] != "UNUSED_TYPEDEF"]
    return {leaf.arg: leaf.search_one("type").i_type_spec for leaf in mod.i_children}


def pyang_accepts(spec, text: str) -> bool:
    errors: list = []
    val = spec.str_to_val(errors, None, text, None)
    return val is not None and not errors and spec.validate(errors, None, val, None) is not False


@pytest.mark.parametrize("leaf", sorted(VALUES))
def test_the_summary_accepts_exactly_what_pyang_accepts(leaves, leaf: str) -> None:
    spec = leaves[leaf]
    ours = from_pyang(spec)
    assert ours is not None
    ours = pickle.loads(pickle.dumps(ours))  # as the schema cache stores it
    verdicts = {
        text: (ours.check(text) is None, pyang_accepts(spec, text)) for text in VALUES[leaf]
    }
    assert {t: v for t, v in verdicts.items() if v[0] != v[1]} == {}
    assert any(ok for ok, _ in verdicts.values())
    assert leaf == "any" or not all(ok for ok, _ in verdicts.values())


def test_integers_are_decimal_as_in_xml(leaves) -> None:
    ours = from_pyang(leaves["i8"])
    assert ours is not None
    assert ours.check("010") is None  # ten (pyang: octal eight)
    assert ours.check("0x10") == "invalid"  # pyang: sixteen
    assert ours.check("1_0") == "invalid"  # Python's int() would take it
    assert ours.check("1e2") == "invalid"


def test_what_is_not_a_value_and_what_is_out_of_bounds_are_told_apart(leaves) -> None:
    ratio = from_pyang(leaves["ratio"])
    assert ratio is not None
    assert ratio.check("abc") == "invalid"
    assert ratio.check("2") == "violates"
    assert Restrictions("bits", bits=frozenset({"a"})).check("b") == "violates"


def test_types_checked_elsewhere_have_no_summary(leaves) -> None:
    """Enumerations, booleans, identityrefs... are checked by ``values`` itself."""
    assert from_pyang(leaves["choice"]) is None
    assert from_pyang(leaves["on"]) is None
