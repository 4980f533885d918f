"""Value checks the datastore layer makes itself, before pyangbind sees a value.

pyangbind accepts what Python's ``int()`` and ``Decimal()`` accept ("0x10" is not, but
"1_000" and "1e-1" are), ignores fraction-digits and knows identities only by name,
so these checks give XML-accurate answers and clear messages. ``deep`` adds pyang's
own validators (ranges, lengths, patterns) for modules without binding classes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lxml import etree
from pyang.types import LengthTypeSpec, PatternTypeSpec, StringTypeSpec

from qnms.yang.schema import Schema, SchemaNode, TypeInfo
from qnms.yang.schema_types import PyangTypeSpec
from qnms.yang.tree import resolve_qname, show

_INT = re.compile(r"[+-]?[0-9]+\Z")
_DEC = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?\Z")
INT_TYPES = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})


LeafCheck = Callable[[etree._Element], str | None]


def leaf_check(schema: Schema, node: SchemaNode, deep: bool) -> LeafCheck:
    """Why the value of a leaf of ``node`` is invalid, or None: the check prepared once
    per schema node, for many instances (issue 13). ``deep`` adds pyang's checks.

    A string type made of lengths and patterns pyang would check one value at a time
    (an XML Schema validation per pattern, ~20 us a value) is checked here with the
    same lengths and the patterns translated to Python regular expressions, when the
    translation is exact (``xsd_regex``); every other type takes the general ``_check``.
    """
    t = node.type
    if t is None:
        return _no_check
    rule = _string_rule(t.spec) if deep and t.base == "string" and t.spec is not None else None
    if rule is None:
        return lambda el: _check(schema, t, el, el.text or "", deep)

    def check(el: etree._Element) -> str | None:
        text = el.text or ""
        return None if rule(text) else f"{text!r} violates {t.text}"

    return check


def _no_check(_el: etree._Element) -> str | None:
    return None


def _string_rule(spec: Any) -> Callable[[str], bool] | None:
    """pyang's validation of a string type as one function, or None when the type has
    anything but lengths and translatable patterns."""
    lengths: list[list[tuple[Any, Any, int, int]]] = []
    patterns: list[tuple[re.Pattern[str], bool]] = []
    while not isinstance(spec, StringTypeSpec):
        if isinstance(spec, PatternTypeSpec):
            for p in spec.res:
                if p.schema is None:
                    continue  # pyang passes every value through a pattern it could not compile
                rx = xsd_regex(p.spec)
                if rx is None:
                    return None
                patterns.append((rx, bool(p.invert_match)))
        elif isinstance(spec, LengthTypeSpec):
            lengths.append([_length_range(spec, lo, hi) for lo, hi in spec.lengths])
        else:
            return None
        spec = spec.base
    limit = (spec.min, spec.max)

    def rule(text: str) -> bool:
        n = len(text)
        if not limit[0] <= n <= limit[1]:
            return False
        for ranges in lengths:
            if not any(_in_length(n, r) for r in ranges):
                return False
        return all((rx.fullmatch(text) is None) == inverted for rx, inverted in patterns)

    return rule


def _length_range(spec: Any, lo: Any, hi: Any) -> tuple[Any, Any, int, int]:
    cur_hi = spec.max if hi == "max" else hi
    cur_lo = spec.min if lo == "min" else spec.max if lo == "max" else lo
    return lo, hi, cur_lo, cur_hi


def _in_length(n: int, r: tuple[Any, Any, int, int]) -> bool:
    """pyang's LengthTypeSpec test of one range, as written there."""
    lo, hi, cur_lo, cur_hi = r
    return (lo in ("min", "max") or n >= cur_lo) and (
        (hi is None and n == cur_lo) or hi == "max" or (hi is not None and n <= cur_hi)
    )


_CLASS_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~:-^ _")
_PLAIN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~:- ")
_OPERATORS = frozenset("*+?{},|()")
_ESCAPED = frozenset("-.\\[](){}*+?|^$")


def xsd_regex(pattern: str) -> re.Pattern[str] | None:
    """An XML Schema regular expression (YANG ``pattern``, implicitly anchored) as a
    Python one for ``fullmatch``; None unless the pattern uses only constructs that mean
    the same in both: ASCII letters, digits and a few punctuation characters, simple
    character classes, escaped metacharacters, quantifiers, groups and alternatives."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt not in _ESCAPED or not nxt:
                return None  # \d, \p{..}, \i, \c ... differ or do not exist in Python
            out.append("\\" + nxt)
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            elif ch not in _CLASS_CHARS:
                return None  # a nested class (subtraction) or an unusual character
        elif ch == "[":
            in_class = True
        elif ch == ".":
            ch = "[^\\n\\r]"  # XML Schema's . excludes both line ends
        elif (ch == "(" and pattern[i + 1 : i + 2] == "?") or (
            ch not in _PLAIN_CHARS and ch not in _OPERATORS
        ):
            return None
        out.append(ch)
        i += 1
    if in_class:
        return None
    try:
        return re.compile("".join(out))
    except re.error:
        return None


def _check(schema: Schema, t: TypeInfo, el, text: str, deep: bool) -> str | None:
    base = t.base
    if base in INT_TYPES:
        if not _INT.match(text):
            return f"{text!r} is not an integer ({t.text})"
    elif base == "decimal64":
        if not _DEC.match(text):
            return f"{text!r} is not a decimal number ({t.text})"
        frac = text.partition(".")[2]
        if t.fraction_digits is not None and len(frac) > t.fraction_digits:
            return f"{text!r} has more than {t.fraction_digits} fraction digits ({t.text})"
    elif base == "boolean":
        if text not in ("true", "false"):
            return f"{text!r} is not a boolean (true or false)"
    elif base == "empty":
        if text.strip():
            return f"a leaf of type empty has no value, got {text!r}"
        return None
    elif base == "enumeration":
        if text not in t.enums:
            return f"{text!r} is not one of {t.text}"
        return None
    elif base == "identityref":
        ident = resolve_qname(el, text)
        if ident is None:
            return f"identityref {text!r} has an undeclared or missing prefix"
        if ident not in t.identities:
            allowed = ", ".join(sorted(show(i, schema) for i in t.identities))
            return f"identity {text!r} is not derived from the base ({allowed})"
        return None
    elif base == "union":
        if all(_check(schema, m, el, text, deep) for m in t.members) and t.members:
            return f"{text!r} matches no member type of {t.text}"
        return None
    elif base == "leafref":
        return None  # checked as an instance reference, see Validator.leafrefs
    if deep and t.spec is not None:
        return _pyang_check(t, t.spec, text)
    return None


def _pyang_check(t: TypeInfo, spec: PyangTypeSpec, text: str) -> str | None:
    errors: list[Any] = []
    try:
        val = spec.str_to_val(errors, None, text, t.module)
        if val is None or errors:
            return f"{text!r} is not a valid {t.text}"
        if not spec.validate(errors, None, val, t.module):
            return f"{text!r} violates {t.text}"
    except Exception:  # pyang validators are not written for hostile input
        return f"{text!r} is not a valid {t.text}"
    return None
