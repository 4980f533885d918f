"""YANG types as the datastore layer needs them: built-in base, restrictions as text.

Split from ``schema`` to keep each module readable; ``schema`` re-exports the names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from qnms.yang.restrictions import Restrictions, from_pyang

Key = tuple[str, str]  # (namespace, local name): the lxml tag, split


def pickled_by_fields[T](cls: type[T]) -> type[T]:
    """Pickle a slots dataclass as a plain tuple of its fields, in order.

    The schema cache unpickles ~1,000 such records at an agent's start; the dataclass
    default calls ``fields()`` for every object, which made loading ~40% slower.
    """
    names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    def getstate(self: T) -> tuple:
        return tuple(getattr(self, n) for n in names)

    def setstate(self: T, state: tuple) -> None:
        for name, value in zip(names, state, strict=True):
            object.__setattr__(self, name, value)

    setattr(cls, "__getstate__", getstate)  # noqa: B010 (mypy: methods are read-only)
    setattr(cls, "__setstate__", setstate)  # noqa: B010
    return cls


@dataclass(frozen=True)
class YangModule:
    """One implemented (or import-only) module, for hello capabilities, RFC 8525
    yang-library, RFC 6022 schema list and get-schema."""

    name: str
    revision: str
    namespace: str
    prefix: str
    path: Path
    features: tuple[str, ...] = ()
    conformance: Literal["implement", "import"] = "implement"


@pickled_by_fields
@dataclass(slots=True, eq=False)
class LeafrefInfo:
    """The path of a leafref, reduced to steps over XML elements.

    Predicates are dropped, so evaluating the steps yields a superset of the allowed
    values: a check against it never rejects valid data, only misses some invalid data.
    """

    path: str
    absolute: bool
    ups: int  # number of leading '..' steps (relative paths)
    downs: tuple[Key, ...]
    require_instance: bool


@pickled_by_fields
@dataclass(slots=True, eq=False)
class TypeInfo:
    """What the datastore layer itself checks of a leaf type; pyangbind does the rest."""

    base: str  # built-in type name: uint8, string, decimal64, identityref, union, ...
    text: str  # human-readable type and restrictions, for error messages
    enums: frozenset[str] = frozenset()
    identities: frozenset[Key] = frozenset()  # identities an identityref accepts
    fraction_digits: int | None = None
    leafref: LeafrefInfo | None = None
    members: tuple[TypeInfo, ...] = ()  # union member types
    spec: Restrictions | None = None  # ranges, lengths, patterns: checked when no binding


def build_type(tstmt, derived: Callable[[list], frozenset[Key]]) -> TypeInfo:
    """Summarise pyang type statement ``tstmt``; ``derived(bases)`` lists identities."""
    spec = tstmt.i_type_spec
    base = _base_name(tstmt)
    info = TypeInfo(base=base, text=_type_text(tstmt), spec=from_pyang(spec))
    if base == "enumeration":
        info.enums = frozenset(name for name, _v in _enums(spec))
    elif base == "identityref":
        bases = [b.i_identity for b in spec.idbases if hasattr(b, "i_identity")]
        info.identities = derived(bases)
    elif base == "decimal64":
        info.fraction_digits = _fraction_digits(spec)
    elif base == "union":
        info.members = tuple(build_type(t, derived) for t in _union_types(tstmt))
    elif base == "leafref":
        info.leafref = leafref_info(spec)
    return info


def leafref_info(spec) -> LeafrefInfo | None:
    """The leafref path of ``spec`` as XML steps (pyang resolved it already)."""
    while spec is not None and not hasattr(spec, "i_path_list"):
        spec = spec.base
    if spec is None or getattr(spec, "i_path_list", None) is None:
        return None
    path = spec.path_.arg.strip()
    ups = 0
    downs: list[Key] = []
    for direction, stmt in spec.i_path_list:
        if direction == "up":
            ups += 1
        else:
            downs.append((stmt.i_module.search_one("namespace").arg, stmt.arg))
    return LeafrefInfo(
        path=path,
        absolute=path.startswith("/"),
        ups=ups,
        downs=tuple(downs),
        require_instance=bool(getattr(spec, "require_instance", True)),
    )


def identity_ancestors(stmt, seen: set | None = None) -> set:
    seen = set() if seen is None else seen
    if stmt in seen:
        return seen
    seen.add(stmt)
    for b in stmt.search("base"):
        if hasattr(b, "i_identity"):
            identity_ancestors(b.i_identity, seen)
    return seen


def _resolved_type_chain(tstmt) -> list:
    """The type statement followed by those of the typedefs it derives from."""
    chain = []
    t = tstmt
    while t is not None:
        chain.append(t)
        td = getattr(t, "i_typedef", None)
        t = td.search_one("type") if td is not None else None
    return chain


def _base_name(tstmt) -> str:
    return _resolved_type_chain(tstmt)[-1].arg.split(":")[-1]


def _type_text(tstmt) -> str:
    chain = _resolved_type_chain(tstmt)
    parts = [chain[-1].arg]
    for t in chain:
        for kw in ("range", "length"):
            r = t.search_one(kw)
            if r is not None:
                parts.append(f"{kw} {r.arg}")
        for p in t.search("pattern"):
            parts.append(f"pattern '{p.arg}'")
        fd = t.search_one("fraction-digits")
        if fd is not None:
            parts.append(f"fraction-digits {fd.arg}")
    if chain[-1].arg == "enumeration":
        names = [e.arg for e in _first_enums(chain)]
        parts.append("{" + ", ".join(names) + "}")
    if tstmt.arg != chain[-1].arg:
        parts.insert(0, tstmt.arg + ":")
    return " ".join(parts)


def _first_enums(chain: list) -> list:
    for t in chain:
        es = t.search("enum")
        if es:
            return es
    return []


def _enums(spec) -> list:
    while spec is not None:
        if hasattr(spec, "enums"):
            return spec.enums
        spec = spec.base
    return []


def _fraction_digits(spec) -> int | None:
    while spec is not None:
        fd = getattr(spec, "fraction_digits", None)
        if fd is not None:
            return int(fd)
        spec = spec.base
    return None


def _union_types(tstmt) -> list:
    for t in _resolved_type_chain(tstmt):
        members = t.search("type")
        if members:
            return members
    return []
