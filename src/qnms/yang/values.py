"""Value checks the datastore layer makes itself, before pyangbind sees a value.

pyangbind accepts what Python's ``int()`` and ``Decimal()`` accept ("0x10" is not, but
"1_000" and "1e-1" are), ignores fraction-digits and knows identities only by name,
so these checks give XML-accurate answers and clear messages. ``deep`` adds pyang's
type restrictions as pyang checks them (ranges, lengths, patterns; see
``restrictions``) for modules without binding classes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from lxml import etree

from qnms.yang.restrictions import (
    DECIMAL_TEXT,
    INTEGER_TEXT,
    INTEGERS,
    Verdict,
    checker,
    set_checker,
)
from qnms.yang.schema import Schema, SchemaNode, TypeInfo
from qnms.yang.tree import resolve_qname, show

LeafCheck = Callable[[etree._Element], str | None]
"""Why the value of a leaf element is invalid, or None."""
TextCheck = Callable[[str], str | None]
"""Why a value (the text of a leaf of a plain-text type) is invalid, or None."""
PlainLeaves = dict[str, SchemaNode]


def has_qnames(tinfo: TypeInfo) -> bool:
    """Values of the type name things by namespace (identityref, instance-identifier):
    their meaning needs the XML namespace context, not just the text."""
    if tinfo.base in ("identityref", "instance-identifier"):
        return True
    return any(has_qnames(m) for m in tinfo.members)


def plain_leaves(node: SchemaNode) -> PlainLeaves:
    """The config leaves of ``node`` whose values are plain text, by element tag: not in
    a choice (creating one deletes the other cases) and of a type without namespace
    bindings. A fresh entry made of these alone takes the editor's fast path
    (``datastore.fresh``) and is checked by its texts (``text_check``)."""
    out: PlainLeaves = {}
    for (ns, name), child in node.children.items():
        if child.keyword != "leaf" or not child.config or child.cases:
            continue
        if child.type is not None and has_qnames(child.type):
            continue
        out[f"{{{ns}}}{name}"] = child
    return out


def texts_check(node: SchemaNode, deep: bool) -> Callable[[Collection[str]], bool] | None:
    """Whether all of many values of plain leaf ``node`` are valid, checked together in
    C (``restrictions.set_checker``): strings only; None when that cannot be done (the
    caller then uses ``text_check`` per value)."""
    t = node.type
    if t is None or t.base != "string" or not deep or t.spec is None:
        return None
    return set_checker(t.spec)


def text_check(schema: Schema, node: SchemaNode, deep: bool) -> TextCheck | None:
    """``leaf_check`` of a plain leaf (``plain_leaves``) by its text alone (checked
    across many entries at once, issue 13); None when no value can be wrong."""
    t = node.type
    if t is None or t.base == "leafref" or (t.base == "string" and (not deep or t.spec is None)):
        return None
    if has_qnames(t):
        raise ValueError(f"{node.name}: a value of {t.text} is not plain text")
    if t.base == "string":
        check = checker(t.spec)
        return lambda text: _verdict(t, v, text) if (v := check(text)) is not None else None
    return lambda text: _check(schema, t, None, text, deep)


def leaf_check(schema: Schema, node: SchemaNode, deep: bool) -> LeafCheck:
    """The check of ``node``'s leaves, prepared once per schema node and applied to
    many instances (a big edit-config checks thousands, issue 13). ``deep`` adds the
    type's restrictions as pyang checks them (``restrictions``)."""
    t = node.type
    if t is None:
        return no_check
    if t.base == "string":  # the usual leaf: only the restrictions apply, if at all
        if not deep or t.spec is None:
            return no_check
        check = checker(t.spec)

        def check_string(el: etree._Element) -> str | None:
            text = el.text or ""
            verdict = check(text)
            return None if verdict is None else _verdict(t, verdict, text)

        return check_string
    if t.base == "leafref":
        return no_check  # its value is checked as an instance reference (``leafrefs``)
    return lambda el: _check(schema, t, el, el.text or "", deep)


def _verdict(t: TypeInfo, verdict: Verdict, text: str) -> str | None:
    if verdict == "invalid":
        return f"{text!r} is not a valid {t.text}"
    if verdict == "violates":
        return f"{text!r} violates {t.text}"
    return None


def no_check(_el: etree._Element) -> str | None:
    return None


def _check(schema: Schema, t: TypeInfo, el, text: str, deep: bool) -> str | None:
    base = t.base
    if base in INTEGERS:
        if not INTEGER_TEXT.match(text):
            return f"{text!r} is not an integer ({t.text})"
    elif base == "decimal64":
        if not DECIMAL_TEXT.match(text):
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
        return _verdict(t, checker(t.spec)(text), text)
    return None
