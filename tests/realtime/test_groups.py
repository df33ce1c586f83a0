"""The hub hands each read of the log to groups of sockets that share a visibility: one
check per event and one run of frames per group, written by the hub itself to every
socket whose writer sleeps with nothing queued; everything else takes the queue, so
order, visibility, re-checks and the slow-socket rule stay what they were."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from app.realtime.endpoints import CLOSE_TOO_SLOW, _forward
from app.realtime.events import ACCESS_CHANGED
from app.realtime.hub import EventHub
from app.realtime.subscribers import (
    QUEUE_SIZE,
    Ephemeral,
    LogEvent,
    Recheck,
    Subscriber,
    Visible,
)
from app.realtime.transport import EXTENSION, text_frame
from tests.realtime.test_fanout import FakeSocket


def event(seq: int, channel_id: int = 1) -> LogEvent:
    e = LogEvent(seq, "message.created", {"n": seq}, channel_id=channel_id)
    e.frame = text_frame(e.wire_text())
    return e


def seqs_in(data: bytes) -> list[int]:
    """The seqs of a run of unmasked text frames, as the hub joins them."""
    out = []
    while data:
        size, start = data[1] & 0x7F, 2
        if size == 126:
            size, start = int.from_bytes(data[2:4], "big"), 4
        out.append(json.loads(data[start : start + size])["seq"])
        data = data[start + size :]
    return out


class Counted:
    """A channel filter that counts how often the hub asks it."""

    def __init__(self, channels: set[int] | None) -> None:
        self.channels = channels
        self.asked = 0

    def __call__(self, item: Visible) -> bool:
        self.asked += 1
        return self.channels is None or item.channel_id in self.channels


def queued(sub: Subscriber) -> list[Any]:
    items = []
    while not sub.queue.empty():
        item = sub.queue.get_nowait()
        items.append(item.seq if isinstance(item, LogEvent | Recheck) else item)
    return items


async def test_each_event_is_checked_once_per_visibility_not_once_per_socket() -> None:
    hub = EventHub(None)  # type: ignore[arg-type]
    limited = [Counted({1}) for _ in range(3)]
    everything = [Counted(None) for _ in range(2)]
    visitor = Counted({2})
    subs = [Subscriber(accepts=f, visibility=("channels", frozenset({1}))) for f in limited]
    subs += [Subscriber(accepts=f, visibility=("channels", None)) for f in everything]
    subs.append(Subscriber(accepts=visitor))  # a filter of its own: asked per event
    for sub in subs:
        hub.subscribe(sub)
    hub._fan_out([event(1, 1), event(2, 2), event(3, 1)])
    assert sum(f.asked for f in limited) == 3  # one group, three events
    assert sum(f.asked for f in everything) == 3
    assert visitor.asked == 3
    assert [queued(s) for s in subs] == [[1, 3]] * 3 + [[1, 2, 3]] * 2 + [[2]]
    assert hub.last_seq == 3


async def test_a_sleeping_writer_is_written_around_and_left_asleep() -> None:
    written: list[bytes] = []
    take = True

    def write_now(data: bytes) -> bool:
        if take:
            written.append(data)
        return take

    sub = Subscriber(accepts=lambda _e: True, visibility="all", write_now=write_now)
    writer = asyncio.create_task(sub.queue.wait(60))
    await asyncio.sleep(0)  # the writer sleeps with nothing queued
    run = [event(1), event(2)]
    sub.deliver_all(run, b"".join(e.frame for e in run))
    await asyncio.sleep(0)
    assert [seqs_in(d) for d in written] == [[1, 2]] and sub.last == 2
    assert not writer.done() and sub.queue.empty()  # never woken
    sub.deliver_all([event(2)], event(2).frame)  # already sent (a replay overlapped)
    assert await asyncio.wait_for(writer, 1) is True  # woken for it
    assert len(written) == 1 and queued(sub) == [2]  # left to the writer, which skips it
    writer = asyncio.create_task(sub.queue.wait(60))
    await asyncio.sleep(0)
    take = False  # the kernel's buffer is full: the writer waits for it, in order
    sub.deliver_all([event(3)], event(3).frame)
    assert await asyncio.wait_for(writer, 1) is True
    assert queued(sub) == [3] and sub.last == 2


async def test_a_busy_writer_gets_the_run_through_its_queue() -> None:
    written: list[bytes] = []
    sub = Subscriber(accepts=lambda _e: True, visibility="all", write_now=written.append)  # type: ignore[arg-type]
    sub.deliver_all([event(1)], event(1).frame)  # nobody waiting: the writer is busy
    assert written == [] and queued(sub) == [1]


class FramedSocket(FakeSocket):
    """A FakeSocket under `huiliu serve`: frames written by the writer or by the hub."""

    def __init__(self, stall: bool = False) -> None:
        super().__init__(stall)
        self.wire: list[tuple[str, Any]] = []
        self.kernel_full = False
        self.beat = asyncio.Event()
        self.scope = {"extensions": {EXTENSION: {"write": self.write, "write_now": self.now}}}

    async def write(self, data: bytes) -> None:
        if self.stall is not None:
            await self.stall.wait()
        self.wire.append(("writer", seqs_in(data)))

    def now(self, data: bytes) -> bool:
        if self.kernel_full:
            return False
        self.wire.append(("hub", seqs_in(data)))
        return True

    async def send_text(self, text: str) -> None:
        await super().send_text(text)
        self.wire.append(("asgi", json.loads(text)))
        if self.wire[-1][1]["type"] == "heartbeat":
            self.beat.set()


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_hub_writes_and_queued_frames_keep_one_order_on_the_socket() -> None:
    ws = FramedSocket()
    sub = Subscriber(accepts=lambda _item: True, visibility="all")
    task = asyncio.create_task(_forward(ws, sub, 0))  # type: ignore[arg-type]
    await settle()
    run = [event(1), event(2)]
    sub.deliver_all(run, b"".join(e.frame for e in run))
    sub.deliver(Ephemeral({"type": "presence", "seq": None}, channel_id=1))  # wakes it
    sub.deliver_all([event(3)], event(3).frame)  # queued behind the presence frame
    await settle()
    sub.deliver_all([event(4)], event(4).frame)  # asleep again: the hub writes
    ws.kernel_full = True
    sub.deliver_all([event(5)], event(5).frame)  # the writer takes it, and waits
    await settle()
    sub.queue.wake()  # woken with nothing queued, as by its heartbeat's timer
    await asyncio.wait_for(ws.beat.wait(), 5)
    ws.gone.set()
    await asyncio.wait_for(task, 1)
    assert ws.wire == [
        ("hub", [1, 2]),
        ("asgi", {"type": "presence", "seq": None}),
        ("writer", [3]),
        ("hub", [4]),
        ("writer", [5]),
        ("asgi", {"type": "heartbeat", "seq": 5, "data": {}}),  # the last seq sent, by anyone
    ]
    assert sub.write_now is None  # the socket is gone: nobody writes around it


async def test_a_socket_the_kernel_stopped_taking_from_is_closed_as_too_slow() -> None:
    ws = FramedSocket(stall=True)  # the writer's own write never finishes either
    ws.kernel_full = True
    sub = Subscriber(accepts=lambda _item: True, visibility="all")
    task = asyncio.create_task(_forward(ws, sub, 0))  # type: ignore[arg-type]
    await settle()
    for seq in range(1, QUEUE_SIZE + 3):
        sub.deliver_all([event(seq)], event(seq).frame)
    assert sub.overflowed
    sub.deliver_all([event(QUEUE_SIZE + 5)], b"late")
    assert ("hub", [QUEUE_SIZE + 5]) not in ws.wire  # an overflowed socket gets nothing
    ws.stall.set()  # type: ignore[union-attr]
    await asyncio.wait_for(task, 5)
    assert ws.sent[-1] == f"close {CLOSE_TOO_SLOW}"


async def test_an_access_change_splits_the_read_and_holds_what_follows() -> None:
    """Events before a user's `user.access_changed` go out under the old viewer; those
    after it wait in the queue for the socket's re-check (never written around it)."""
    hub = EventHub(None)  # type: ignore[arg-type]
    written: list[list[int]] = []
    mine = Subscriber(
        accepts=lambda item: item.channel_id == 1,
        user_id=7,
        visibility=("channels", frozenset({1})),
        write_now=lambda data: written.append(seqs_in(data)) is None,
    )
    other = Subscriber(accepts=lambda _item: True, user_id=8, visibility=("channels", None))
    for sub in (mine, other):
        hub.subscribe(sub)
    writer = asyncio.create_task(mine.queue.wait(60))
    await asyncio.sleep(0)
    rows = [
        SimpleNamespace(seq=1, type="message.created", data={}, channel_id=1, conversation_id=1),
        SimpleNamespace(seq=2, type="message.created", data={}, channel_id=2, conversation_id=2),
        SimpleNamespace(
            seq=3, type=ACCESS_CHANGED, data={"user_id": 7}, channel_id=None, conversation_id=None
        ),
        SimpleNamespace(seq=4, type="message.created", data={}, channel_id=2, conversation_id=2),
        SimpleNamespace(seq=5, type="message.created", data={}, channel_id=1, conversation_id=1),
    ]
    reads = [rows, []]

    async def read_after(seq: int) -> list[Any]:
        return reads.pop(0)

    hub._read_after = read_after  # type: ignore[method-assign]
    await hub._drain()
    assert written == [[1]]  # before the change, under the old viewer, by the hub
    assert await asyncio.wait_for(writer, 1) is True  # woken by the re-check
    assert queued(mine) == [3, 4, 5]  # the re-check, then both held for the new viewer
    assert queued(other) == [1, 2, 4, 5]
    assert hub.last_seq == 5
