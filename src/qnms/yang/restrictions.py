"""The value restrictions of a leaf type (ranges, lengths, patterns, bits) as plain data.

The compiled schema is cached between starts (``schema_cache``) so that an agent listens
without running pyang. pyang's own ``TypeSpec`` objects cannot go in that cache: they
hold statements of the whole module tree and compiled XML Schemas (patterns), which do
not pickle, and importing pyang's type module alone costs ~0.15 s (its ``syntax``
module compiles its regexes at import). So the schema compiler summarises each type's
restrictions here (``from_pyang``, reading pyang's resolved specs) and ``check``
applies them the way pyang's ``types`` module does, with the lexical rules of XML
values (RFC 7950 section 9: integers are decimal; pyang also reads YANG's 0x/0 forms).
Patterns are XSD regular expressions: each is compiled lazily on first use and once
per process, into Python's ``re`` where the translation is exact (``xsd_regex``), else
by libxml2 (lxml) as pyang does.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from lxml import etree

from qnms.yang.xsd_regex import xsd_regex

Number = int | Decimal
Intervals = tuple[tuple[Number, Number], ...]  # a value must fall in one of them
Verdict = Literal["invalid", "violates"] | None  # not a value of the type / out of bounds

INTEGER_TEXT = re.compile(r"[+-]?[0-9]+\Z")  # RFC 7950 9.2.1 (decimal digits only)
DECIMAL_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?\Z")  # RFC 7950 9.3.1
INTEGERS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})
XSD = "http://www.w3.org/2001/XMLSchema"


class Restrictions(NamedTuple):
    """What pyang would check of a value of one type, every derivation level included.

    A named tuple: it pickles (into the schema cache) and loads as a plain tuple."""

    base: str  # the built-in type: int8..uint64, decimal64, string, binary, bits, ...
    bounds: tuple[Number, Number] | None = None  # the built-in value space (numbers)
    ranges: tuple[Intervals, ...] = ()  # one entry per ``range`` along the typedef chain
    lengths: tuple[Intervals, ...] = ()  # likewise for ``length`` (characters / octets)
    patterns: tuple[tuple[str, bool], ...] = ()  # (XSD regex, invert-match), all must hold
    bits: frozenset[str] | None = None  # the bit names a bits value may list

    def check(self, text: str) -> Verdict:
        """``invalid`` when ``text`` is no value of the type, ``violates`` when it is
        outside a restriction, None when it is fine."""
        if self.base in INTEGERS or self.base == "decimal64":
            number = _number(self.base, text)
            if number is None:
                return "invalid"
            if self.bounds and not self.bounds[0] <= number <= self.bounds[1]:
                return "violates"
            return "violates" if _outside(number, self.ranges) else None
        if self.base == "string":
            if _outside(len(text), self.lengths):
                return "violates"
            ok = all(_matches(p, text) is not invert for p, invert in self.patterns)
            return None if ok else "violates"
        if self.base == "binary":
            try:
                octets = base64.b64decode(text)
            except (binascii.Error, ValueError):
                return "invalid"
            return "violates" if _outside(len(octets), self.lengths) else None
        if self.base == "bits" and self.bits is not None:
            return None if set(text.split()) <= self.bits else "violates"
        return None


@functools.cache
def checker(r: Restrictions) -> Callable[[str], Verdict]:
    """``r.check``, prepared once per type (a bulk edit checks thousands of values of
    few types, issue 13): a string's length intervals and pattern matchers are looked
    up here instead of per value; other bases keep the general method."""
    if r.base != "string":
        return r.check
    # each level's intervals; a value's length must fall in one interval of every level
    lengths = tuple(tuple((int(lo), int(hi)) for lo, hi in level) for level in r.lengths)
    matchers = tuple((_matcher(p), invert) for p, invert in r.patterns)

    def check_string(text: str) -> Verdict:
        n = len(text)
        for level in lengths:
            for lo, hi in level:
                if lo <= n <= hi:
                    break
            else:
                return "violates"
        for matches, invert in matchers:
            if matches(text) is invert:
                return "violates"
        return None

    return check_string


@functools.cache
def set_checker(r: Restrictions) -> Callable[[Collection[str]], bool] | None:
    """Whether every one of many strings passes ``r`` (a string type), with the loop
    over them in C (``min``/``max`` of their lengths, one match of a pattern over all of
    them at once: ``_joined``): a bulk edit checks 20,000 values of one leaf at once
    (issue 13). None when a pattern is not matched by Python's ``re`` (``checker`` then
    checks value by value)."""
    if r.base != "string":
        return None
    matchers = []
    for p, invert in r.patterns:
        rx = xsd_regex(p)
        if rx is None:
            return None
        matchers.append((rx.fullmatch, _joined(rx) if not invert else None, invert))
    lengths = tuple(tuple((int(lo), int(hi)) for lo, hi in level) for level in r.lengths)

    def all_pass(texts: Collection[str]) -> bool:
        if not texts:
            return True
        for level in lengths:
            if len(level) == 1:  # the usual length: one interval holds them all or not
                lo, hi = level[0]
                if min(map(len, texts)) < lo or max(map(len, texts)) > hi:
                    return False
            elif not all(any(lo <= len(t) <= hi for lo, hi in level) for t in texts):
                return False
        for fullmatch, together, invert in matchers:
            if together is not None:
                joined = "\0".join(texts)
                if joined.count("\0") == len(texts) - 1 and together(joined):
                    continue  # each one matched (see _joined); else tell value by value
            if any(map(fullmatch, texts)) if invert else not all(map(fullmatch, texts)):
                return False
        return True

    return all_pass


def _joined(rx: re.Pattern[str]) -> Callable[[str], object] | None:
    """``fullmatch`` of ``P(NUL P)*`` for pattern ``P``: matching the NUL-joined values
    at once (a third of the time of a call per value) says each value matches, as long
    as no match of ``P`` can hold a NUL. Of what ``xsd_regex`` makes, only a negated
    class can (``[^...]``, XML Schema's ``.`` among them): None for those."""
    if "[^" in rx.pattern:
        return None
    return re.compile(f"(?:{rx.pattern})(?:\\x00(?:{rx.pattern}))*").fullmatch


def _number(base: str, text: str) -> Number | None:
    if base in INTEGERS:
        return int(text, 10) if INTEGER_TEXT.match(text) else None
    return Decimal(text) if DECIMAL_TEXT.match(text) else None


def _outside(value: Number, levels: tuple[Intervals, ...]) -> bool:
    return any(not any(lo <= value <= hi for lo, hi in level) for level in levels)


@functools.cache
def _schema(pattern: str) -> etree.XMLSchema | None:
    """A one-element XML Schema restricting a string by ``pattern`` (pyang's method)."""
    schema = etree.Element(f"{{{XSD}}}schema", nsmap={"xs": XSD})
    element = etree.SubElement(schema, f"{{{XSD}}}element", name="a")
    simple = etree.SubElement(element, f"{{{XSD}}}simpleType")
    restriction = etree.SubElement(simple, f"{{{XSD}}}restriction", base="xs:string")
    etree.SubElement(restriction, f"{{{XSD}}}pattern", value=pattern)
    try:
        return etree.XMLSchema(schema)
    except etree.XMLSchemaParseError:
        return None  # pyang refused the module then: never reached for a loaded schema


def _matches(pattern: str, text: str) -> bool:
    return _matcher(pattern)(text)


@functools.cache
def _matcher(pattern: str) -> Callable[[str], bool]:
    """Whether a value matches ``pattern``: Python's ``re`` when it means the same,
    else libxml2's XML Schema validation."""
    rx = xsd_regex(pattern)
    if rx is not None:
        return lambda text: rx.fullmatch(text) is not None
    schema = _schema(pattern)
    if schema is None:
        return lambda _text: True
    return functools.partial(_xsd_matches, schema)


def _xsd_matches(schema: etree.XMLSchema, text: str) -> bool:
    value = etree.Element("a")
    try:
        value.text = text
    except ValueError:  # characters XML cannot carry match no pattern
        return False
    return bool(schema.validate(value))


# ------------------------------------------------------- summarising pyang's specs


def from_pyang(spec: Any) -> Restrictions | None:
    """The restrictions of pyang's resolved ``i_type_spec`` (None for types pyang does
    not check beyond what ``values`` already does: enumerations, identityrefs, ...).

    The spec is a chain through ``.base``: one link per restricting statement (range,
    length, pattern, bit) down to the built-in type's spec, read here by attribute.
    """
    chain = []
    while spec is not None:
        chain.append(spec)
        spec = spec.base
    if not chain:
        return None
    root = chain[-1]
    base = root.name
    if base not in INTEGERS | {"decimal64", "string", "binary", "bits"}:
        return None
    bounds = (_num(root.min), _num(root.max)) if base in INTEGERS | {"decimal64"} else None
    ranges, lengths, patterns = [], [], []
    bits: frozenset[str] | None = None
    for link in chain:
        if hasattr(link, "ranges"):
            ranges.append(_intervals(link.ranges, link))
        if hasattr(link, "lengths"):
            lengths.append(_intervals(link.lengths, link))
        for p in getattr(link, "res", ()):
            patterns.append((p.spec, bool(p.invert_match)))
        if bits is None and isinstance(getattr(link, "bits", None), list):
            bits = frozenset(name for name, _position in link.bits)
    return Restrictions(base, bounds, tuple(ranges), tuple(lengths), tuple(patterns), bits)


def _intervals(pairs: list, level: Any) -> Intervals:
    """pyang's (lo, hi) pairs with 'min'/'max' and single values (hi None) resolved
    against the level's own bounds, as its ``validate`` resolves them."""
    out = []
    for lo, hi in pairs:
        low = level.min if lo == "min" else level.max if lo == "max" else lo
        high = level.max if hi == "max" else low if hi is None else hi
        out.append((_num(low), _num(high)))
    return tuple(out)


def _num(value: Any) -> Number:
    """pyang's bound (an int, or a Decimal64Value whose str() is its decimal text)."""
    return value if isinstance(value, int) else Decimal(str(value))
