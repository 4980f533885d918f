"""What a path delivers, elementary purification included: one model for planner and twin.

The orchestrator's estimate (orchestrator/paths.py) and the twin's reachability check and
watchdog (qndt/reach.py) both call ``plan_rounds`` / ``path_outcome`` with the numbers
they know of a path (the planner from the agents' data, the twin from the network
model), so an estimate and what the twin does cannot drift apart (issue 14). The model
is the twin's protocol (qndt/linkpurify.py):

* each link purifies its own fresh pairs: ``rounds`` nested BBPSSW rounds, a round
  taking two pairs of the previous level of the same link (fresh ones for the first);
  a round needs its two input pairs at once plus the memory that makes the next, hence
  ``MIN_MEMORIES`` memories per hop side (2 for one round, 3 for two); a failure
  discards both inputs and the link starts them again;
* a level-``k`` pair of a link is modelled as one "cycle" of a geometric number of
  cycles, like a fresh pair (``physics.parallel_links_time``): its duration is the time
  until both inputs exist (``E[max]`` of two level ``k-1`` pairs) plus the BBPSSW
  exchange (``PURIFY_DELAYS`` classical delays of the link: the resource managers'
  request and approval, then the measurement results), its success the BBPSSW success
  of the inputs; the earlier input ages while it waits for the later;
* the links' (purified) pairs are swapped in SeQUeNCe's rule order (``swap_partners``: a
  tree, every swap joining two segments), as soon as both segments are ready; a failed
  swap discards the pairs of the two segments it joined and only those, as in the twin
  (a swap is a join like a purification round: ``_joined``); the last swap's results
  reach the ends after ``end_wait_s``;
* a link pair waits, and depolarises, until the last link is ready (on average
  ``E[max]`` over the links less its own mean time);
* ``memories`` per hop side run ``memories / 2^rounds`` purification units per link
  (exact for ``2^rounds`` memories; an approximation with 3 memories and two rounds, whose
  units share a memory), and the slowest link's units set the path's rate.

The chooser ``plan_rounds`` gives every link the fewest rounds that reach the target:
rounds go, one at a time, to the link whose pairs are worst, until the delivered
fidelity (storage decay included) reaches the target or no link can take another round.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .physics import (
    RARE,
    bbpssw_fidelity,
    bbpssw_success,
    parallel_links_time,
    werner_decay,
    werner_swap,
)

#: Rounds of elementary purification a link may take (the twin's rules, linkpurify.py).
LINK_MAX_ROUNDS = 2
#: Memories per hop side that ``rounds`` rounds need (two inputs + one making the next).
MIN_MEMORIES = (1, 2, 3)
#: A BBPSSW round after both input pairs exist: request, approval, measurement results.
PURIFY_DELAYS = 3


def rounds_allowed(memories: int) -> int:
    """How many rounds ``memories`` per hop side allow on a link."""
    return max(r for r, need in enumerate(MIN_MEMORIES) if need <= max(memories, 1))


@dataclass(frozen=True)
class Hop:
    """One elementary link as the path model sees it."""

    cycle: tuple[float, float]  # (success, mean s) of one memory pair's generation cycle
    fidelity: float  # of its fresh pairs (the lower raw fidelity of its two memories)
    coherence_s: float  # depolarising time of its pairs (<= 0: none)
    classical_s: float  # one-way classical delay between its ends
    success_s: float = 0.0  # duration of a successful cycle (0: as long as the mean)


@dataclass(frozen=True)
class LinkLevel:
    """A link's pairs after ``rounds`` rounds: ready after ``first_s``, then every
    ``cycle[1]`` with probability ``cycle[0]`` (``physics.parallel_links_time``)."""

    rounds: int
    cycle: tuple[float, float]
    first_s: float
    fidelity: float
    success: float = 1.0  # of its last BBPSSW round

    @property
    def mean_s(self) -> float:
        p, step = self.cycle
        return self.first_s + (1 / p - 1) * step if p > 0 else math.inf


def _fresh(hop: Hop) -> LinkLevel:
    """A link's fresh pairs: a successful cycle, after failed ones of the mean's rest."""
    p, mean = hop.cycle
    if not 0 < p < 1 or hop.success_s <= 0:
        return LinkLevel(0, hop.cycle, mean, hop.fidelity)
    failed = (mean - p * hop.success_s) / (1 - p)
    return LinkLevel(0, (p, failed), hop.success_s, hop.fidelity)


def _ready_time(levels: Sequence[LinkLevel]) -> float:
    """E[max] of the levels' ready times (every link holds a pair)."""
    return parallel_links_time([lv.cycle for lv in levels], firsts=[lv.first_s for lv in levels])


@dataclass(frozen=True)
class PathOutcome:
    """What a path delivers with given link rounds and memories."""

    rounds: tuple[int, ...]
    links: tuple[LinkLevel, ...]
    fidelity: float  # delivered, after storage decay and the ends' wait
    unpurified_fidelity: float  # the same path with no purification
    generation_s: float  # until every link holds a (purified) pair
    success: float  # of the swaps once every link holds a pair
    rate: float  # delivered pairs per second
    memories: int  # per hop side

    @property
    def pair_time_s(self) -> float:
        """Expected time between delivered pairs (inverse rate)."""
        return 1 / self.rate if self.rate > 0 else math.inf


def _max_moments(levels: Sequence[LinkLevel], tail: float = 1e-9) -> tuple[float, float]:
    """(mean, variance) of the latest of independent ``levels``' ready times (a step sum
    like ``parallel_links_time``; an exponential's variance below ``RARE`` success)."""
    if any(lv.cycle[0] < RARE for lv in levels):
        mean = _ready_time(levels)
        return mean, mean * mean
    heap = [(lv.first_s, i) for i, lv in enumerate(levels)]
    heapq.heapify(heap)
    done = [0.0] * len(levels)
    waiting = len(levels)  # levels with P(ready) still 0; ``ready`` multiplies the others
    m1 = m2 = previous = every = 0.0
    ready = 1.0
    while heap:  # the max is at t with P(all by t) - P(all by the previous event)
        t, i = heapq.heappop(heap)
        p, step = levels[i].cycle
        new = 1 - (1 - done[i]) * (1 - p)
        if done[i] == 0.0:
            waiting -= 1
            ready *= new
        else:
            ready *= new / done[i]
        done[i] = new
        every = ready if waiting == 0 else 0.0
        m1 += (every - previous) * t
        m2 += (every - previous) * t * t
        previous = every
        if 1 - every < tail:
            break
        heapq.heappush(heap, (t + step, i))
    return m1, max(0.0, m2 - m1 * m1)


def _joined(
    inputs: Sequence[LinkLevel], success: float, delay: float, fidelity: float, rounds: int
) -> LinkLevel:
    """Two inputs joined (a purification round or a swap): attempts of ``E[max]`` of the
    inputs plus ``delay``, each a success with ``success``, a failure restarting both.
    The time's mean and variance are put on the inputs' time grid as a shifted geometric
    (``first + (N - 1) step``), so that ``E[max]`` over such levels stays an exact step
    sum (a fixed-length attempt would understate the spread, and with it the wait for the
    slowest of several purified links or segments)."""
    m_mean, m_var = _max_moments(inputs)
    attempt = m_mean + delay
    mean = attempt / success
    var = m_var / success + (1 - success) / success**2 * attempt**2
    step = min(lv.cycle[1] for lv in inputs)
    # step^2 (1 - q) / q^2 = var  =>  var q^2 + step^2 q - step^2 = 0
    q = 1.0 if var <= 0 else (-(step**2) + math.sqrt(step**4 + 4 * var * step**2)) / (2 * var)
    first = mean - step * (1 - q) / q
    if first < step:  # too little spread for this grid: a fixed number of steps
        q, first = 1.0, mean
    return LinkLevel(rounds, (q, step), first, fidelity, success)


def swap_partners(nodes: int) -> dict[int, tuple[int, int]]:
    """Per intermediate node index, the two far ends it swaps (SeQUeNCe's rule order:
    the path reduced to every other node until the node sits at an odd index)."""
    partners = {}
    for x in range(1, nodes - 1):
        reduced = list(range(nodes))
        while reduced.index(x) % 2 == 0:
            last = len(reduced) - 1
            reduced = [v for i, v in enumerate(reduced) if i % 2 == 0 or i == last]
        k = reduced.index(x)
        partners[x] = (reduced[k - 1], reduced[k + 1])
    return partners


def _segment_time(
    links: Sequence[LinkLevel],
    hops: Sequence[Hop],
    successes: Sequence[float],
    end_wait_s: float,
) -> LinkLevel:
    """When the end-to-end pair is ready: the twin's swap tree over the links' levels.

    A failed swap discards the pairs of the segments it joined and only those (the other
    links keep theirs); a swap's result reaches its segment's ends after the classical
    delay to the farther one (the whole path's ``end_wait_s`` for the last swap)."""
    n = len(links) + 1
    at = {v: k for k, v in swap_partners(n).items()}
    offset = [0.0, *itertools.accumulate(h.classical_s for h in hops)]

    def seg(u: int, v: int) -> LinkLevel:
        if v == u + 1:
            return links[u]
        x = at[(u, v)]
        top = (u, v) == (0, n - 1)
        delay = end_wait_s if top else max(offset[x] - offset[u], offset[v] - offset[x])
        return _joined([seg(u, x), seg(x, v)], successes[x - 1], delay, 0.0, 0)

    return seg(0, n - 1)


@functools.lru_cache(maxsize=4096)
def link_level(hop: Hop, rounds: int) -> LinkLevel:
    """A link's pairs after ``rounds`` nested BBPSSW rounds (see the module docstring;
    cached: ``plan_rounds`` asks again for every link at every step)."""
    level = _fresh(hop)
    delay = PURIFY_DELAYS * hop.classical_s
    for _ in range(rounds):
        both = _ready_time([level, level])
        # the earlier input waits E[max] - E[min] = 2 (E[max] - E[one]) for the later
        wait = 2 * max(0.0, both - level.mean_s)
        f_early = werner_decay(level.fidelity, wait + delay, hop.coherence_s)
        f_late = werner_decay(level.fidelity, delay, hop.coherence_s)
        success = bbpssw_success(f_early, f_late)
        fidelity = bbpssw_fidelity(f_early, f_late)
        level = _joined([level, level], success, delay, fidelity, level.rounds + 1)
    return level


def path_outcome(
    hops: Sequence[Hop],
    degradations: Sequence[float],
    swap_successes: Sequence[float],
    rounds: Sequence[int],
    memories: int,
    end_wait_s: float,
    end_coherence_s: float,
) -> PathOutcome:
    """Fidelity and rate of a path whose links take ``rounds`` rounds each (cached: the
    planner estimates the same paths again at every admission)."""
    return _path_outcome(
        tuple(hops), tuple(degradations), tuple(swap_successes), tuple(rounds), memories,
        end_wait_s, end_coherence_s,
    )  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _path_outcome(
    hops: tuple[Hop, ...],
    degradations: tuple[float, ...],
    swap_successes: tuple[float, ...],
    rounds: tuple[int, ...],
    memories: int,
    end_wait_s: float,
    end_coherence_s: float,
) -> PathOutcome:
    """See ``path_outcome``.

    ``degradations`` and ``swap_successes`` are the intermediate nodes' (in path order),
    ``end_wait_s`` the classical
    time for the swap results to reach the ends, during which the end pair decays with
    ``end_coherence_s``.
    """
    links = tuple(link_level(h, r) for h, r in zip(hops, rounds, strict=True))
    gen_s = _ready_time(links)
    # Werner parameters multiply under swaps and decay: the delivered pair carries each
    # link pair's storage while the slower links caught up (on average E[max] - E[own]).
    stored = sum(
        max(0.0, gen_s - lv.mean_s) / h.coherence_s if h.coherence_s > 0 else 0.0
        for lv, h in zip(links, hops, strict=True)
    )

    def delivered(fidelities: Sequence[float]) -> float:
        f = fidelities[0] if fidelities else 1.0
        for lf, degradation in zip(fidelities[1:], degradations, strict=True):
            f = werner_swap(f, lf, degradation)
        return werner_decay(werner_decay(f, stored, 1.0), end_wait_s, end_coherence_s)

    units = min((memories / 2**r for r in rounds), default=memories)
    pair_s = _segment_time(links, hops, swap_successes, end_wait_s).mean_s if links else 0.0
    rate = units / pair_s if 0 < pair_s < math.inf else 0.0
    return PathOutcome(
        rounds=tuple(rounds),
        links=links,
        fidelity=delivered([lv.fidelity for lv in links]),
        unpurified_fidelity=delivered([h.fidelity for h in hops]),
        generation_s=gen_s,
        success=math.prod(swap_successes),
        rate=rate,
        memories=memories,
    )


def plan_rounds(
    hops: Sequence[Hop],
    degradations: Sequence[float],
    swap_successes: Sequence[float],
    memories: int,
    target: float | None,
    end_wait_s: float,
    end_coherence_s: float,
    max_rounds: int = LINK_MAX_ROUNDS,
    add_memories: bool = False,
) -> PathOutcome:
    """The fewest link rounds that reach ``target``, else the best the rounds tried give.

    Rounds go one at a time to the link whose pairs are worst (above 1/2: BBPSSW makes
    nothing better below), up to ``max_rounds`` per link and what the memories allow.
    ``add_memories``: the planner may reserve the memories the rounds need
    (``MIN_MEMORIES``), the twin has only ``memories``. Returns the first outcome that
    reaches the target, or the one of highest fidelity (storage decay may make more
    rounds worse) with the target unmet: the caller compares.
    """
    cap = min(max_rounds, LINK_MAX_ROUNDS)
    if not add_memories:
        cap = min(cap, rounds_allowed(memories))

    def outcome(rounds: list[int]) -> PathOutcome:
        need = MIN_MEMORIES[max(rounds, default=0)]
        mem = max(memories, need) if add_memories else memories
        return path_outcome(
            hops, degradations, swap_successes, rounds, mem, end_wait_s, end_coherence_s
        )

    rounds = [0] * len(hops)
    out = best = outcome(rounds)
    while True:
        if target is None or out.fidelity >= target:
            return out
        open_links = [i for i, lv in enumerate(out.links) if rounds[i] < cap and lv.fidelity > 0.5]
        if not open_links:
            return best
        worst = min(open_links, key=lambda i: out.links[i].fidelity)
        rounds[worst] += 1
        out = outcome(rounds)
        if out.fidelity > best.fidelity:
            best = out
