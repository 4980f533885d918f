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
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from heapq import heappop, heappush
from typing import Any

from sequence.kernel.event import Event
from sequence.kernel.eventlist import EventList

Entry = tuple[Any, Any, Event]  # (time, priority, event): SeQUeNCe's ints, priority inf


class KeyedEventList(EventList):
    """``EventList`` whose heap holds ``(time, priority, event)`` entries."""

    def __init__(self, events: Iterable[Event] = ()) -> None:
        # a heap of events kept position for position is still a heap of their keys
        self.data: list[Entry] = [(e.time, e.priority, e) for e in events]  # type: ignore[assignment]

    def __iter__(self) -> Iterator[Event]:
        for entry in self.data:
            yield entry[2]

    def push(self, event: Event) -> None:
        heappush(self.data, (event.time, event.priority, event))

    def pop(self) -> Event:
        return heappop(self.data)[2]

    def top(self) -> Event:
        return self.data[0][2]

    def update_event_time(self, event: Event, time: int) -> None:
        """SeQUeNCe's move of a pending event, the same swaps on the keyed entries.

        SeQUeNCe finds the event by identity, sifts it up when it is made earlier; made
        later, it is sifted up to the root with time -1, popped and pushed again.
        """
        if time == event.time:
            return
        heap = self.data
        for i, entry in enumerate(heap):
            if entry[2] is event:
                if event.time > time:
                    event.time = time
                    self._sift_up(i, (time, event.priority, event))
                elif event.time < time:
                    event.time = -1
                    self._sift_up(i, (-1, event.priority, event))
                    heappop(heap)
                    event.time = time
                    heappush(heap, (time, event.priority, event))
                break

    def _sift_up(self, index: int, entry: Entry) -> None:
        """SeQUeNCe's ``_pop_updated_event``: swap upwards while less than the parent."""
        heap = self.data
        heap[index] = entry
        parent = (index - 1) // 2
        while index > 0 and entry < heap[parent]:
            heap[index], heap[parent] = heap[parent], heap[index]
            index = parent
            parent = (parent - 1) // 2
