"""A cost budget for XPath filters (RFC 6241 8.9; issue 9, fair service).

XPath 1.0 lets one short expression cost a polynomial of any degree in the size of
the data: ``//*[count(//*)>0]`` visits every node once per node (n^2), each further
nested ``//`` inside a predicate multiplies by n again. libxml2 evaluates an
expression in one uninterruptible C call, and a thread running it cannot be killed,
so a server that only stopped *waiting* for an over-budget evaluation would still
burn a core for hours on an n^3 expression. Two checks bound the work instead:

* ``estimate`` reads the expression before any evaluation: the number of nested
  predicate levels that walk the whole document (``//``, the descendant, following
  and preceding axes) gives the degree d, and n^(d+1) node
  visits (n: nodes in the data) is an upper bound for the usual shapes. Anything over
  ``max_cost`` is refused at once, without evaluating, so an abandoned evaluation is
  always one that the estimate found affordable.
* the caller evaluates in a worker and stops waiting at a time limit (see
  ``qnms.netconf.protocol.fairness``), for what the estimate cannot see (long string
  functions, large numbers of union branches).

Both answer ``operation-failed`` with ``error-app-tag`` ``xpath-too-expensive``
(application error: the request was well-formed; this server will not afford it).
"""

from __future__ import annotations

import re

from qnms.yang.errors import ErrorTag, RpcError

APP_TAG = "xpath-too-expensive"
DEFAULT_MAX_COST = 1e8  # node visits: libxml2 makes 10^7..10^8 a second on one core
_WIDE_AXES = re.compile(r"\b(descendant|descendant-or-self|following|preceding)\s*::")
_STRING = re.compile(r"'[^']*'|\"[^\"]*\"")


def degree(select: str) -> int:
    """How many nested predicate levels walk the whole document, plus one for the
    outermost path: ``/a/b`` -> 1, ``//a[b]`` -> 1, ``//*[count(//*)>0]`` -> 2."""
    text = _STRING.sub("''", select)
    stack: list[list[int]] = [[0, 0]]  # per open predicate: [walks itself, deepest child]
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "[":
            stack.append([0, 0])
        elif ch == "]" and len(stack) > 1:
            walks, child = stack.pop()
            stack[-1][1] = max(stack[-1][1], walks + child)
        elif len(stack) > 1 and _walks_at(text, i):
            stack[-1][0] = 1
        i += 1
    return 1 + stack[0][1]


def _walks_at(text: str, i: int) -> bool:
    """Whether position ``i`` (inside a predicate) starts a walk over the whole
    document or most of it: ``//`` or a wide axis (an absolute path ``/a/b`` follows
    its steps only, so it is not counted)."""
    if text.startswith("//", i):
        return True
    return bool(_WIDE_AXES.match(text, i)) and (
        i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "-_:")
    )


def estimate(select: str, nodes: int) -> float:
    """Upper bound of node visits for ``select`` over ``nodes`` nodes."""
    return float(max(nodes, 1)) ** degree(select)


def too_expensive(select: str, why: str) -> RpcError:
    """The error a budget-breaking XPath filter gets (RFC 6241 appendix A)."""
    return RpcError(
        ErrorTag.OPERATION_FAILED,
        f"XPath filter {select!r} is too expensive for this server: {why}",
        app_tag=APP_TAG,
        info=[("bad-attribute", "select"), ("bad-element", "filter")],
    )


def check(select: str, nodes: int, max_cost: float | None) -> None:
    """Refuse ``select`` before evaluating it when its estimate exceeds ``max_cost``."""
    if max_cost is None:
        return
    cost = estimate(select, nodes)
    if cost > max_cost:
        raise too_expensive(
            select,
            f"about {cost:.1e} node visits over {nodes} nodes (nesting degree "
            f"{degree(select)}), the limit is {max_cost:.1e}",
        )
