"""The keyed event heap (qndt/fastheap.py) pops SeQUeNCe's events in SeQUeNCe's order.

Random pushes, pops, invalidations and moves with many ties (equal time and priority,
the case whose order depends on the heap's shape) are applied to SeQUeNCe's
``EventList`` and to ``KeyedEventList`` side by side: the same event pops at every step
and the heaps stay position for position the same. Whole twin runs (test_fastpaths.py)
compare the executed events of engines with and without it.
"""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest
from sequence.kernel.event import Event
from sequence.kernel.eventlist import EventList
from sequence.kernel.process import Process
from sequence.kernel.timeline import Timeline

from qnms.qndt import fastheap, fastpaths
from qnms.qndt.fastheap import KeyedEventList


def _names(events: EventList) -> list[str]:
    return [e.process.activation for e in events]


@pytest.mark.parametrize("seed", range(12))
def test_same_pops_and_same_heap_as_sequence(seed: int) -> None:
    """Each logical event is two Event objects (one per heap), as a move mutates it."""
    rng = random.Random(seed)
    theirs, mine = EventList(), KeyedEventList()
    now = 0
    pending: dict[str, tuple[Event, Event]] = {}
    for n in range(3000):
        op = rng.random()
        if op < 0.45 or not pending:
            time = now + rng.randrange(0, 6)
            priority = rng.choice([math.inf, math.inf, 0, 1, 2])  # expiries inf, messages int
            pair = (
                Event(time, Process(None, f"e{n}", []), priority),
                Event(time, Process(None, f"e{n}", []), priority),
            )
            pending[f"e{n}"] = pair
            theirs.push(pair[0])
            mine.push(pair[1])
        elif op < 0.75:
            assert theirs.top().process.activation == mine.top().process.activation
            popped_a, popped_b = theirs.pop(), mine.pop()
            assert popped_a.process.activation == popped_b.process.activation
            assert popped_b.is_invalid() == popped_a.is_invalid()
            now = max(now, popped_a.time)
            del pending[popped_a.process.activation]
        elif op < 0.85:
            for event in pending[rng.choice(list(pending))]:
                event.set_invalid()  # stays in both heaps, as SeQUeNCe's removal
        else:
            event_a, event_b = pending[rng.choice(list(pending))]
            time = max(now, event_a.time + rng.randrange(-4, 5))
            theirs.update_event_time(event_a, time)
            mine.update_event_time(event_b, time)
            assert event_a.time == event_b.time == time
        assert _names(theirs) == _names(mine)  # the same heap, position for position
        assert [(t, p) for t, p, _ in mine.data] == [(e.time, e.priority) for e in theirs]
    order = [theirs.pop().process.activation for _ in range(len(theirs))]
    assert [mine.pop().process.activation for _ in range(len(mine))] == order


def _label(event: Event) -> str:
    owner = event.process.owner
    return event.process.activation if owner is None else str(owner.name)


@pytest.mark.parametrize("seed", range(6))
def test_expiries_in_place_pop_as_a_new_event_per_state(seed: int) -> None:
    """Memories' expiries scheduled again in place (fastheap.expire_at), moved and
    removed, against SeQUeNCe's heap with a new event per state: the same keys position
    for position, the same event (or an invalid one) at every pop, ties included."""
    rng = random.Random(seed)
    theirs = EventList()
    tl = SimpleNamespace(events=KeyedEventList(), schedule_counter=0)
    mine = tl.events
    memories = [SimpleNamespace(name=f"m{j}", timeline=tl, expiration_event=None) for j in range(6)]
    current: dict[int, Event] = {}  # SeQUeNCe's live expiry event per memory
    now = 0
    for n in range(1200):
        op, j = rng.random(), rng.randrange(len(memories))
        memory = memories[j]
        if op < 0.3:
            time, priority = now + rng.randrange(0, 4), rng.choice([math.inf, 0, 1])
            theirs.push(Event(time, Process(None, f"e{n}", []), priority))
            mine.push(Event(time, Process(None, f"e{n}", []), priority))
        elif op < 0.55:  # a new state: the old expiry removed, a new one scheduled
            time = now + rng.randrange(0, 6)
            if j in current:
                current[j].set_invalid()
            current[j] = Event(time, Process(SimpleNamespace(name=f"m{j}"), "expire", []))
            theirs.push(current[j])
            if memory.expiration_event is not None:
                memory.expiration_event.set_invalid()
            fastheap.expire_at(memory, time)  # type: ignore[arg-type]
        elif op < 0.65 and j in current:  # a reset
            current.pop(j).set_invalid()
            memory.expiration_event.set_invalid()
            memory.expiration_event = None
        elif op < 0.75 and j in current:  # a move (SeQUeNCe's update_event_time)
            time = max(now, current[j].time + rng.randrange(-3, 4))
            theirs.update_event_time(current[j], time)
            mine.update_event_time(memory.expiration_event, time)
        elif theirs.data:
            a, b = theirs.pop(), mine.pop()
            assert (a.time, a.priority, a.is_invalid()) == (b.time, b.priority, b.is_invalid())
            if not a.is_invalid():
                assert _label(a) == _label(b)
                if a.process.activation == "expire":
                    del current[int(_label(a)[1:])]
                    memories[int(_label(a)[1:])].expiration_event = None
            now = max(now, a.time)
        assert [(t, p) for t, p, _ in mine.data] == [(e.time, e.priority) for e in theirs]
        assert [e.is_invalid() for e in mine] == [e.is_invalid() for e in theirs]
    for memory in memories:  # one expiry object per memory, whatever it went through
        assert memory.expiration_event in (None, memory.__dict__["_qnms_expiry"])


def test_move_of_an_event_no_longer_in_the_heap_does_nothing() -> None:
    events = KeyedEventList()
    event = Event(5, Process(None, "x", []))
    events.push(event)
    assert events.pop() is event
    events.update_event_time(event, 9)
    assert event.time == 5 and len(events) == 0


def test_new_timelines_get_the_keyed_heap_while_installed() -> None:
    fastpaths.install()  # as building an engine does (idempotent)
    assert isinstance(Timeline().events, KeyedEventList)
    fastpaths.uninstall()
    try:
        assert type(Timeline().events) is EventList
    finally:
        fastpaths.install()
