"""Unprefixed name tests in XPath filters match the local name in any namespace.

XPath 1.0 reads ``/quantum-fabric/memories`` as names in no namespace, which match
nothing in YANG data: every data node has a namespace. Clients (yangcli,
netconf-console2 without --ns, people typing at a prompt) send such paths all the
time, and mature servers (netconfd, ConfD) answer them by matching the local name in
whichever module has it, as the subtree filter does for an element without xmlns.
Rewriting each unprefixed name test to ``*[local-name()='x']`` gives exactly that,
while prefixed names keep their strict meaning.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""
    (?P<literal>"[^"]*"|'[^']*')
  | (?P<number>\d+(?:\.\d*)?|\.\d+)
  | (?P<name>[A-Za-z_][\w.\-]*(?::(?:[A-Za-z_][\w.\-]*|\*))?)
  | (?P<axis>::)
  | (?P<op>//|/|\.\.|\.|@|\(|\)|\[|\]|,|\||\+|-|=|!=|<=|>=|<|>|\*|\$)
  | (?P<space>\s+)
    """,
    re.VERBOSE,
)
_OPERATOR_NAMES = {"and", "or", "div", "mod"}
# After these tokens a name is a name test, not an operator (XPath 1.0 section 3.7).
_NOT_AFTER = {"@", "::", "(", "[", ",", "/", "//", "|", "+", "-", "=", "!=", "<", "<=", ">", ">="}


def any_namespace_names(expr: str) -> str:
    """``expr`` with each unprefixed element name test made namespace-agnostic."""
    tokens: list[list[str]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:  # leave the rest to the XPath compiler, which reports it
            tokens.append(["raw", expr[pos:]])
            break
        tokens.append([m.lastgroup or "raw", m.group()])
        pos = m.end()
    sig = [t for t in tokens if t[0] != "space"]
    for n, token in enumerate(sig):
        kind, text = token
        if kind != "name" or ":" in text:
            continue
        before = [t[1] for t in sig[max(0, n - 2) : n]]
        after = sig[n + 1][1] if n + 1 < len(sig) else None
        if _is_name_test(text, before, after):
            token[1] = f"*[local-name()='{text}']"
    return "".join(text for _, text in tokens)


def _is_name_test(text: str, before: list[str], after: str | None) -> bool:
    prev = before[-1] if before else None
    if after in ("(", "::"):
        return False  # a function call, node-type test or axis name
    if prev in ("@", "$"):
        return False  # an attribute or a variable
    if prev == "::":
        return before[0] != "attribute"
    return not (prev is not None and prev not in _NOT_AFTER and text in _OPERATOR_NAMES)
