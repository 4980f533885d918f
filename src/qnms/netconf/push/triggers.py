"""What makes a YANG-Push subscription send (RFC 8641 section 3.1): a period, or a
change with dampening; and the guard that keeps one subscription's failure from
stopping the others that share its instant.

Shared by the engine (``yang_push``) that creates targets and the targets (``target``)
that run them, so neither imports the other's module for these.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger("qnms.netconf.push.yang_push")


@dataclass(frozen=True)
class Periodic:
    period_cs: int
    anchor: float | None = None  # epoch seconds


@dataclass(frozen=True)
class OnChange:
    dampening_cs: int = 0
    sync_on_start: bool = True
    excluded: frozenset[str] = frozenset()


_last_failure = [0.0]


def guarded(fn: Callable[[], object]) -> None:
    """One subscription's failure (a state provider raising) must not stop the others
    sharing its instant, nor its own schedule; it is logged at most every 10 s."""
    try:
        fn()
    except Exception:
        now = time.monotonic()
        if now - _last_failure[0] >= 10.0:
            _last_failure[0] = now
            log.exception("YANG-Push evaluation failed (repeats are not logged for 10 s)")


def guard_all(fns: Iterable[Callable[[], object]]) -> None:
    """Run each of ``fns`` under ``guarded``: one failing never stops the next."""
    for fn in fns:
        guarded(fn)
