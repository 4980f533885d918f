"""Purify the elementary pairs, round after round, as the target needs (issue 14).

SeQUeNCe's reservation rules (1.3.1) judge every pair against the one end-to-end target:
purify while below it, swap only at or above it, and pair two pairs for BBPSSW only when
their bookkept fidelities are *equal*. When each link's raw fidelity meets the target but
the swaps bring the end-to-end pair below it, nothing is ever purified; a purified or
swapped pair carries a fidelity aged to its own instants and never finds an equal partner,
so end-to-end pairs below the target wait forever. Repeater protocols purify the
elementary pairs instead. reach.py plans, per link, the rounds that reach the target
(network/pathmodel.py, the planner's model) and gives every node of the path, per
neighbour, a threshold: the fidelity of the level below a link's last round (0 for a link
that is not purified). The allocation's purification and swapping rules then use these
conditions:

* a link pair (fresh, state ENTANGLED, or purified, PURIFIED) below its link's threshold
  is purified with another pair of the same link, of the same state, also below it: two
  fresh pairs make a once-purified pair; two once-purified pairs (nested, a second round:
  fidelities unequal as they aged differently, which QnmsBBPSSW's two-input formula
  handles) make a twice-purified one. A pair that decayed below the threshold after its
  last round is purified again rather than left waiting;
* a swap takes link pairs only at or above their threshold and segments already swapped
  (pairs with a farther node) as they are;
* end-to-end pairs are neither purified nor held: they are delivered.

The conditions below replace SeQUeNCe's in the rules ``create_rules`` made; the actions,
protocols and messages stay SeQUeNCe's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sequence.resource_management.action_condition_set import (
    ep_rule_condition_await,
    ep_rule_condition_request,
    es_rule_condition_A,
    es_rule_condition_B,
    es_rule_condition_B_end,
)

if TYPE_CHECKING:
    from sequence.resource_management.memory_manager import MemoryInfo, MemoryManager
    from sequence.resource_management.rule_manager import Rule

SWAPPABLE = ("ENTANGLED", "PURIFIED")


def _ready(info: MemoryInfo, links: dict[str, float]) -> bool:
    """May this pair be swapped: a segment always, a link pair once at its threshold."""
    limit = links.get(info.remote_node or "")
    return info.state in SWAPPABLE and (limit is None or info.fidelity >= limit)


def _below(info: MemoryInfo, args: dict[str, Any]) -> bool:
    """A link pair of this rule's memories still below its link's threshold."""
    limit = args["links"].get(info.remote_node or "")
    return (
        limit is not None
        and info.index in args["memory_indices"]
        and info.state in SWAPPABLE
        and info.fidelity < limit
    )


def ep_request(kept: MemoryInfo, manager: MemoryManager, args: dict[str, Any]) -> list[MemoryInfo]:
    """Purify a link pair below its threshold with another of the same link and level."""
    if not _below(kept, args):
        return []
    for other in manager.memory_map:
        if (
            other is not kept
            and other.remote_node == kept.remote_node
            and other.state == kept.state
            and _below(other, args)
        ):
            return [kept, other]
    return []


def ep_await(info: MemoryInfo, _manager: MemoryManager, args: dict[str, Any]) -> list[MemoryInfo]:
    """Await the other end's purification request for a link pair below its threshold."""
    return [info] if _below(info, args) else []


def es_a(info: MemoryInfo, manager: MemoryManager, args: dict[str, Any]) -> list[MemoryInfo]:
    """Swap a left pair with a right pair, each ready (SeQUeNCe's es_rule_condition_A)."""
    indices, links = args["memory_indices"], args["links"]
    if info.index not in indices or not _ready(info, links):
        return []
    sides = {args["left"]: args["right"], args["right"]: args["left"]}
    want = sides.get(info.remote_node)
    if want is None:
        return []
    for other in manager.memory_map:
        if other.index in indices and other.remote_node == want and _ready(other, links):
            return [info, other]
    return []


def es_b(info: MemoryInfo, _manager: MemoryManager, args: dict[str, Any]) -> list[MemoryInfo]:
    """Await a swap elsewhere with a ready pair (SeQUeNCe's es_rule_condition_B / _B_end)."""
    far = args.get("target_remote")
    others = [far] if far is not None else [args["left"], args["right"]]
    ok = info.index in args["memory_indices"] and info.remote_node not in others
    return [info] if ok and _ready(info, args["links"]) else []


Condition = Callable[["MemoryInfo", "MemoryManager", dict[str, Any]], list["MemoryInfo"]]
REPLACED: dict[Any, Condition] = {
    ep_rule_condition_request: ep_request,
    ep_rule_condition_await: ep_await,
    es_rule_condition_A: es_a,
    es_rule_condition_B: es_b,
    es_rule_condition_B_end: es_b,
}


def retarget(rules: list[Rule], links: dict[str, float]) -> None:
    """Give one node's reservation rules the per-link thresholds ``links`` (neighbour ->
    fidelity a pair with that neighbour must reach before it is swapped)."""
    for rule in rules:
        condition = REPLACED.get(rule.condition)
        if condition is not None:
            rule.condition = condition
            rule.condition_args = {**rule.condition_args, "links": links}
