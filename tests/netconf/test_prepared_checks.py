"""Value checks prepared once per type (issue 13) give the general method's verdicts."""

from __future__ import annotations

import pytest

from qnms.yang.restrictions import Restrictions, checker

CASES = [
    Restrictions("string", lengths=(((1, 32),),), patterns=(("[a-z][a-z0-9-]*", False),)),
    Restrictions("string", lengths=(((1, 5), (8, 9)), ((2, 8),))),
    Restrictions("string", patterns=(("[a-z]+", False), ("x.*", True))),
    Restrictions("string", patterns=(("\\p{L}+", False),)),  # libxml2's XSD dialect
    Restrictions("string"),
    Restrictions("uint8", bounds=(0, 255), ranges=(((1, 10),),)),
]
VALUES = ["", "a", "ab", "abcde", "abcdef", "abcdefgh", "xyz", "a-1", "1a", "A", "é" * 3, "7"]


@pytest.mark.parametrize("r", CASES, ids=range(len(CASES)))
def test_the_prepared_check_agrees_with_the_general_one(r):
    prepared = checker(r)
    assert [prepared(v) for v in VALUES] == [r.check(v) for v in VALUES]


def test_a_prepared_string_check_refuses_what_it_should():
    check = checker(CASES[1])
    assert check("abc") is None
    assert check("a") == "violates"  # in the first level, not the second
    assert check("abcdef") == "violates"  # in the second level, not the first
    assert checker(CASES[2])("xyz") == "violates"  # an invert-match pattern matched
