"""Facts read off pyang's statement tree while the schema index is built.

Pure functions over pyang statements, kept apart from ``schema`` (which compiles the
statements into ``SchemaNode`` records): which keywords are data nodes, pyang's
errors, RFC 8341 extensions, boolean flags and the paths of statements and leaves.
"""

from __future__ import annotations

from pyang import context, error

from qnms.yang.schema_types import Key

DATA_KEYWORDS = frozenset({"container", "list", "leaf", "leaf-list", "anydata", "anyxml"})


def pyang_errors(ctx: context.Context) -> str:
    """The errors (not warnings) pyang reported, one ``position: message`` a line."""
    msgs = []
    for pos, tag, args in ctx.errors:
        if error.is_error(error.err_level(tag)):
            msgs.append(f"{pos}: {error.err_to_str(tag, args)}")
    return "\n".join(msgs)


def nacm_default_deny(stmt) -> str | None:
    """The RFC 8341 default-deny-all / default-deny-write extension on a statement."""
    found = None
    for sub in stmt.substmts:
        kw = sub.keyword
        if isinstance(kw, tuple) and kw[1] in ("default-deny-all", "default-deny-write"):
            prefixes = getattr(sub.i_module, "i_prefixes", {}) if hasattr(sub, "i_module") else {}
            module = prefixes.get(kw[0], (kw[0],))[0]
            if module != "ietf-netconf-acm" and kw[0] != "ietf-netconf-acm":
                continue
            if kw[1] == "default-deny-all" or found is None:
                found = kw[1]
    return found


def flag(stmt, keyword: str) -> bool:
    """A boolean substatement (``mandatory``, ``config``...) that is ``true``."""
    s = stmt.search_one(keyword)
    return s is not None and s.arg == "true"


def statement_id(stmt) -> str:
    """A statement's path of ``keyword:argument`` steps below its module (choices and
    cases included), unique within the module."""
    parts = []
    while stmt is not None and stmt.keyword != "module":
        parts.append(f"{stmt.keyword}:{stmt.arg}")
        stmt = stmt.parent
    return "/".join(reversed(parts))


def leaf_path(leaf, ancestor) -> tuple[Key, ...]:
    """The data-node keys from ``ancestor`` (excluded) down to ``leaf`` (a leaf of a
    list's ``unique`` statement), skipping choices and cases."""
    steps: list[Key] = []
    s = leaf
    while s is not None and s is not ancestor:
        if s.keyword in DATA_KEYWORDS:
            steps.append((s.i_module.search_one("namespace").arg, s.arg))
        s = s.parent
    return tuple(reversed(steps))
