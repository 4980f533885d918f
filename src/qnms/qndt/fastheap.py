"""SeQUeNCe's event heap with its ordering in C: entries keyed ``(time, priority, event)``.

SeQUeNCe 1.3.1 keeps its events in a ``heapq`` of ``Event`` objects, ordered by
``Event.__lt__``: ``(time, priority)``, a Python method called for every comparison. The
heap also keeps invalidated events until their time (a moved or removed memory expiry
is only marked invalid): on the default network with 4 allocations it holds ~4,600
entries of which ~20 are live, so every push and pop makes ~12 of those Python calls
(~150,000 per 0.5 s simulated). Replaying a run's heap operations measured them at
~20 ms of a ~750 ms window, 12 ms keyed: ~1% of a run saved, not the ~5% that
cProfile's overhead on those calls suggested.

Removing the invalid entries (compaction) would make the heap shallow but changes its
shape, and with it the order in which events of equal time and priority pop (two
memories' expiries at one instant, priority ``inf``): SeQUeNCe's results would change.
Here the heap keeps exactly the same shape instead: each entry is the tuple
``(event.time, event.priority, event)``, whose comparison gives the same answer as
``Event.__lt__`` for every pair (time first, then priority; on a tie the tuples compare
the events, equal by ``Event.__eq__``, so neither is less, as ``Event.__lt__`` says). The
same comparisons in the same order give the same heap and the same pop order, event for
event (tests/qndt/test_fastheap.py); they are made by the tuple comparison in C.

An entry's key is fixed when it is pushed, so an event's time may only change through
``update_event_time`` (SeQUeNCe's only place that moves an event in the heap), which
here makes the same swaps on the same positions as SeQUeNCe's.

**Memory expiries, one event per memory** (issue 14, fifth pass). SeQUeNCe schedules a
new ``Event`` (with its ``Process`` and argument list) for every state a memory takes,
and every reset leaves the previous one invalid in the heap until its time, a coherence
time later: on default x4 ~7,900 of ~7,900 entries, four GC-tracked objects each, which
made nearly all of what a full collection scans. Here each memory has one ``Expiry``
(an ``Event`` with one ``Process``), scheduled again in place (``expire_at``): each
schedule pushes only a new entry ``(time, inf, expiry)``, the expiry remembers which
entry is its live one, and an entry it no longer holds pops as an invalid event, where
SeQUeNCe's invalidated ``Event`` would have popped. The keys pushed and popped are the
same, so is the heap's shape and order; a stale entry is one tracked tuple instead of
four objects. In a tie of keys the entries' expiries compare equal to any event, as
SeQUeNCe's frozen stale event did (the reused expiry's own ``time`` has moved on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from sequence.kernel.event import Event
from sequence.kernel.eventlist import EventList
from sequence.kernel.process import Process

if TYPE_CHECKING:
    from sequence.components.memory import Memory

Entry = tuple[Any, Any, Event]  # (time, priority, event): SeQUeNCe's ints, priority inf


class Expiry(Event):
    """A memory's one expiry event, live only in the heap entry it holds (``entry``)."""

    __hash__ = None  # type: ignore[assignment]  # as Event: it defines __eq__

    def __init__(self, memory: Memory) -> None:
        super().__init__(-1, Process(memory, "expire", []))
        self.entry: Entry | None = None  # its live heap entry; None when invalid

    def __eq__(self, other: object) -> bool:
        """Equal to any event: only compared when two heap entries' keys tie, where
        SeQUeNCe's stale event (time frozen at its key) compared equal."""
        return isinstance(other, Event)

    def set_invalid(self) -> None:
        self._is_removed = True
        self.entry = None


def expire_at(memory: Memory, time: int, counted: bool = True) -> Expiry:
    """Schedule ``memory``'s expiry at ``time`` in its timeline's keyed heap.

    What ``Timeline.schedule(Event(time, Process(memory, "expire", [])))`` does (the
    schedule counter and the process number too, unless ``counted`` is False: a move,
    which keeps both), with the memory's one ``Expiry``; an entry it held before is
    stale from now on, as SeQUeNCe's old event once removed.
    """
    tl = memory.timeline
    expiry: Expiry | None = memory.__dict__.get("_qnms_expiry")
    if expiry is None:
        expiry = memory._qnms_expiry = Expiry(memory)  # type: ignore[attr-defined]  # ours
    expiry.time = time
    expiry._is_removed = False
    entry = expiry.entry = (time, expiry.priority, expiry)
    heap: list[Entry] = tl.events.data  # type: ignore[assignment]  # a KeyedEventList's
    heappush(heap, entry)
    if counted:
        tl.schedule_counter += 1
        process: Any = expiry.process  # SeQUeNCe declares its number None
        process.number = tl.schedule_counter
    memory.expiration_event = expiry  # type: ignore[assignment]  # SeQUeNCe declares None
    return expiry


def _stale(entry: Entry) -> Event:
    """What SeQUeNCe's heap would hold there: an invalid event at the entry's key."""
    event = Event(entry[0], _STALE_PROCESS, entry[1])
    event._is_removed = True
    return event


_STALE_PROCESS = Process(None, "expire", [])


def live_popper(events: EventList) -> Callable[[], Event | None]:
    """A function popping the first entry of ``events``: its event, or None if invalid
    (the keyed heap's without a stand-in for a stale expiry, nor a method call per event)."""
    if isinstance(events, KeyedEventList):
        data = events.data

        def pop_keyed() -> Event | None:
            entry = heappop(data)
            event = entry[2]
            if event._is_removed or (type(event) is Expiry and event.entry is not entry):
                return None
            return event

        return pop_keyed

    def pop() -> Event | None:
        event = events.pop()
        return None if event.is_invalid() else event

    return pop


def head_time(events: EventList) -> Callable[[], int]:
    """The time of the first entry of ``events`` (valid or not), as a function: the
    keyed heap reads its key without making a stand-in for a stale expiry (``top``)."""
    if isinstance(events, KeyedEventList):
        data = events.data
        return lambda: data[0][0]  # keys: SeQUeNCe's int times
    top = events.top
    return lambda: top().time


class KeyedEventList(EventList):
    """``EventList`` whose heap holds ``(time, priority, event)`` entries."""

    def __init__(self, events: Iterable[Event] = ()) -> None:
        # a heap of events kept position for position is still a heap of their keys
        self.data: list[Entry] = [(e.time, e.priority, e) for e in events]  # type: ignore[assignment]

    def __iter__(self) -> Iterator[Event]:
        for entry in self.data:
            event = entry[2]
            yield _stale(entry) if type(event) is Expiry and event.entry is not entry else event

    def push(self, event: Event) -> None:
        heappush(self.data, (event.time, event.priority, event))

    def pop(self) -> Event:
        entry = heappop(self.data)
        event = entry[2]
        if type(event) is Expiry and event.entry is not entry:
            return _stale(entry)
        return event

    def top(self) -> Event:
        entry = self.data[0]
        event = entry[2]
        if type(event) is Expiry and event.entry is not entry:
            return _stale(entry)
        return event

    def update_event_time(self, event: Event, time: int) -> None:
        """SeQUeNCe's move of a pending event, the same swaps on the keyed entries.

        SeQUeNCe finds the event by identity, sifts it up when it is made earlier; made
        later, it is sifted up to the root with time -1, popped and pushed again. An
        ``Expiry`` is found by its live entry (an invalid one is not moved: the twin
        never moves an invalid expiry, fastpaths.update_expire_time).
        """
        if time == event.time:
            return
        heap = self.data
        live = event.entry if type(event) is Expiry else None
        for i, entry in enumerate(heap):
            if entry is live if live is not None else entry[2] is event:
                if event.time > time:
                    event.time = time
                    self._sift_up(i, self._key(event))
                elif event.time < time:
                    event.time = -1
                    self._sift_up(i, self._key(event))
                    heappop(heap)
                    event.time = time
                    heappush(heap, self._key(event))
                break

    @staticmethod
    def _key(event: Event) -> Entry:
        """A new entry for ``event`` at its time (the live one, for an ``Expiry``)."""
        entry = (event.time, event.priority, event)
        if type(event) is Expiry:
            event.entry = entry
        return entry

    def _sift_up(self, index: int, entry: Entry) -> None:
        """SeQUeNCe's ``_pop_updated_event``: swap upwards while less than the parent."""
        heap = self.data
        heap[index] = entry
        parent = (index - 1) // 2
        while index > 0 and entry < heap[parent]:
            heap[index], heap[parent] = heap[parent], heap[index]
            index = parent
            parent = (parent - 1) // 2
