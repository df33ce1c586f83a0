"""The subscriber queue: bounded, a slow client is closed (never silently starved), and a
cancelled wait loses nothing."""

from __future__ import annotations

import asyncio

from app.realtime.subscribers import QUEUE_SIZE, EventQueue, LogEvent, Subscriber


async def test_an_overflowing_subscriber_is_told_to_go_after_its_backlog() -> None:
    sub = Subscriber(accepts=lambda _event: True)
    for seq in range(QUEUE_SIZE + 5):
        sub.deliver(LogEvent(seq, "message.created", {}))
    assert sub.overflowed
    got = [await asyncio.wait_for(sub.queue.get(), 1) for _ in range(QUEUE_SIZE + 1)]
    # Before the fix the closing marker did not fit in the full queue: the socket drained
    # the backlog and then waited forever while every later event passed it by.
    assert got[-1] is None and [e.seq for e in got[:-1]] == list(range(QUEUE_SIZE))  # type: ignore[union-attr]


async def test_a_getter_wakes_on_put_and_a_cancelled_one_loses_nothing() -> None:
    queue = EventQueue(10)
    first = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait(one := LogEvent(1, "message.created", {}))
    first.cancel()  # woken, then cancelled before it ran: the item must stay queued
    await asyncio.gather(first, return_exceptions=True)
    assert queue.qsize() == 1
    assert await asyncio.wait_for(queue.get(), 1) is one
    late = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_last(None)
    assert await asyncio.wait_for(late, 1) is None
