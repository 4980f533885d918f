"""Purify the elementary pairs when the end-to-end target needs it (issue 14: no stall).

SeQUeNCe's reservation rules (1.3.1) judge every pair against the one end-to-end target:
purify while below it, swap only at or above it. When each link's raw fidelity meets the
target but the swaps bring the end-to-end pair below it, nothing is ever purified and the
end-to-end pairs wait for a partner of equal fidelity that never comes (the engine refused
such allocations as unreachable). Repeater protocols purify the elementary pairs instead:
here, when one BBPSSW round on every link's fresh pairs makes the target reachable and the
plain rules cannot (``allocation.link_thresholds``), the allocation's purification and
swapping rules are given per-link thresholds:

* a fresh link pair (state ENTANGLED, bookkept at its raw fidelity) is purified once with
  another fresh pair of the same link (equal fidelities, as SeQUeNCe's BBPSSW needs);
* a swap takes link pairs only once purified (at or above the link's threshold) and
  segments already swapped (pairs with a farther node) as they are;
* end-to-end pairs are neither purified nor held: they are delivered.

The conditions below replace SeQUeNCe's in the rules ``create_rules`` made; the actions,
protocols and messages stay SeQUeNCe's own. One round only: a purified pair's bookkept
fidelity is aged to its own instants and would not find an equal partner for a second.
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


def _fresh_below(info: MemoryInfo, args: dict[str, Any]) -> bool:
    """A fresh link pair of this rule's memories below its link's threshold."""
    limit = args["links"].get(info.remote_node or "")
    return (
        limit is not None
        and info.index in args["memory_indices"]
        and info.state == "ENTANGLED"
        and info.fidelity < limit
    )


def ep_request(kept: MemoryInfo, manager: MemoryManager, args: dict[str, Any]) -> list[MemoryInfo]:
    """Purify a fresh link pair with another fresh pair of the same link."""
    if not _fresh_below(kept, args):
        return []
    for other in manager.memory_map:
        if (
            other is not kept
            and _fresh_below(other, args)
            and other.remote_node == kept.remote_node
            and other.fidelity == kept.fidelity
        ):
            return [kept, other]
    return []


def ep_await(info: MemoryInfo, _manager: MemoryManager, args: dict[str, Any]) -> list[MemoryInfo]:
    """Await the other end's purification request for a fresh link pair."""
    return [info] if _fresh_below(info, args) else []


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
