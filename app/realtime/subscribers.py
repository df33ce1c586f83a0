"""What travels through the hub's queues, and the subscriber each socket owns.

A queue item is one of four typed values, told apart by their class:

- `LogEvent`: a row of the event log (CONTRACT section 5), with its wire text and
  websocket frame encoded once by the hub for every socket;
- `Ephemeral`: a live frame for agents (presence, a visitor typing): never logged,
  never replayed, filtered by channel like a logged event;
- `WidgetFrame`: a frame for one visitor's socket from elsewhere in the process
  (an agent typing), sent in order with the events;
- `Recheck`: the socket's user had a credential change (role, channels, deactivation,
  logout): the socket re-evaluates who it serves before sending anything after it;
- `None`: the closing marker (too slow, deactivated, or shutting down).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

QUEUE_SIZE = 1000  # a client this far behind is closed and resyncs from the log


@dataclass(slots=True, eq=False)
class LogEvent:
    """One event-log row as the hub hands it out."""

    seq: int
    type: str
    data: dict[str, Any]
    channel_id: int | None = None
    conversation_id: int | None = None
    # The wire text and frame, the same bytes for every socket (set by the hub's read).
    text: str = ""
    frame: bytes = b""

    @classmethod
    def of_row(cls, row: Any) -> LogEvent:
        """An event-log row (an EventLog or a row of the hub's EVENT_COLUMNS)."""
        return cls(row.seq, row.type, row.data, row.channel_id, row.conversation_id)

    def public(self) -> dict[str, Any]:
        """The wire shape of CONTRACT section 5."""
        return {"seq": self.seq, "type": self.type, "data": self.data}

    def wire_text(self) -> str:
        """`public()` as the JSON text Starlette's `send_json` would send."""
        if not self.text:
            self.text = json.dumps(self.public(), ensure_ascii=False, separators=(",", ":"))
        return self.text


@dataclass(slots=True, frozen=True, eq=False)
class Ephemeral:
    """A frame for the agents who may see `channel_id`, sent as is."""

    frame: dict[str, Any]
    channel_id: int
    conversation_id: int | None = None


@dataclass(slots=True, frozen=True, eq=False)
class WidgetFrame:
    """A frame for one visitor's socket, sent in order with the hub's events."""

    frame: dict[str, Any]


@dataclass(slots=True, frozen=True)
class Recheck:
    """The subscriber's user had a credential change, logged at `seq`."""

    seq: int


QueueItem = LogEvent | Ephemeral | WidgetFrame | Recheck | None
Visible = LogEvent | Ephemeral  # what a subscriber's filter is asked about


class EventQueue:
    """One subscriber's bounded FIFO, with asyncio.Queue's `put_nowait`, `get_nowait` and
    `get` for its single consumer. An asyncio.Queue holds four deques and an Event: 3.3 KB
    per idle socket (tracemalloc), ~8% of its memory (make bench); this holds one deque,
    made on the first put (an empty deque is 760 bytes, and most idle widget sockets never
    get an event). `put_last` ignores the bound, so the closing marker always gets in."""

    __slots__ = ("_items", "_maxsize", "_waiter")

    def __init__(self, maxsize: int) -> None:
        self._items: deque[QueueItem] | None = None
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return self.qsize() >= self._maxsize

    def put_nowait(self, item: QueueItem) -> None:
        if self.full():
            raise asyncio.QueueFull
        self.put_last(item)

    def put_last(self, item: QueueItem) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def parked(self) -> bool:
        """The consumer waits in `wait` with nothing queued and nothing has woken it yet."""
        waiter = self._waiter
        return waiter is not None and not waiter.done() and not self._items

    def get_nowait(self) -> QueueItem:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    def wake(self) -> None:
        """Wake the consumer without an item (its socket's reader finished)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float) -> bool:
        """Until an item is queued (True), `wake()` is called, or `timeout` passes (False).
        A socket's writer waits here between bursts, then takes everything with
        `get_nowait`: one future and one timer per wait, where `get()` raced against the
        reader under `asyncio.wait` cost a task, a set and a callback pair per event."""
        if self._items:
            return True
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            if self._waiter is waiter:
                self._waiter = None
        return bool(self._items)

    async def get(self) -> QueueItem:
        # Items are taken only after waking, so a getter cancelled after the wake-up
        # loses nothing: the next getter finds the item still queued.
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        return self._items.popleft()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _hold(_item: Visible) -> bool:
    return True


# The visibility of every subscriber re-checking its viewer: `_hold` lets everything in.
HOLD = ("hold",)


@dataclass(eq=False, slots=True)  # identity hashing: each connection is its own subscriber
class Subscriber:
    accepts: Callable[[Visible], bool]
    user_id: int | None = None
    # Subscribers with equal keys see the same events: the hub asks the first of them
    # and hands the group one answer and one run of frames (`deliver_all`). None: this
    # subscriber's filter is its own (a visitor's socket) and it is asked per event.
    visibility: Hashable | None = None
    queue: EventQueue = field(default_factory=lambda: EventQueue(QUEUE_SIZE))
    overflowed: bool = False
    rechecks: int = 0  # `Recheck` items queued and not yet handled by the socket
    last: int = 0  # the last seq the socket sent, by its writer or by `deliver_all`
    # Writes encoded frames to the socket at once, False when it cannot take them now
    # (transport.py `write_now`); set by a writer that can be written around (_forward).
    write_now: Callable[[bytes], bool] | None = None

    def filter_by(self, accepts: Callable[[Visible], bool], visibility: Hashable | None) -> None:
        self.accepts = accepts
        self.visibility = visibility

    def deliver(self, item: Visible) -> None:
        if self.overflowed or not self.accepts(item):
            return
        self._put(item)

    def deliver_all(self, events: Sequence[LogEvent], frames: bytes) -> None:
        """Events this subscriber's group may see (already filtered), in seq order, with
        their frames joined. A socket whose writer sleeps with nothing queued gets the
        bytes written now, by the hub, without waking the writer: at 200 msg/s and 200
        agents a writer's wake-up per read was most of the fan-out's CPU (make bench).
        Anything else (a writer busy or behind, a socket the kernel is not taking bytes
        for, old seqs after a replay) goes through the queue, in order, as before."""
        if self.overflowed:
            return
        write = self.write_now
        if (
            write is not None
            and events[0].seq > self.last
            and self.queue.parked()
            and write(frames)
        ):
            self.last = events[-1].seq
            return
        for event in events:
            self._put(event)
            if self.overflowed:
                return

    def recheck(self, seq: int) -> None:
        """The user's credentials changed at `seq`: until the socket has re-evaluated its
        viewer, everything is queued (the socket filters it again with the new viewer),
        so an event the new permissions allow is not lost in between."""
        if self.overflowed:
            return
        self.filter_by(_hold, HOLD)
        self.rechecks += 1
        self._put(Recheck(seq))

    def close(self) -> None:
        # Past the bound: a subscriber closed *because* its queue is full must still get
        # the marker, or it drains the backlog and then waits forever, silently missing
        # every later event instead of being told to resync.
        self.queue.put_last(None)

    def _put(self, item: QueueItem) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()
