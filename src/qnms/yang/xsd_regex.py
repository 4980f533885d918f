"""XML Schema regular expressions (YANG ``pattern``) as Python ones, where that is exact.

libxml2 validates one value against a pattern in ~20 us (an XML Schema validation per
value, as pyang does); a big edit-config checks thousands of values (issue 13). Most
patterns of the project's modules use only constructs that mean the same in both
dialects, so ``restrictions`` matches those with Python's ``re`` and keeps libxml2 for
the others (``\\d``, ``\\p{..}``, class subtraction, non-ASCII characters, ...).
"""

from __future__ import annotations

import re

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
