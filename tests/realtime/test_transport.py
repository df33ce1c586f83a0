"""The uvicorn protocol's receive queue: FIFO, wakes its getters, loses nothing when a
woken getter is cancelled (the widget's hello wait is a `wait_for` that may time out)."""

from __future__ import annotations

import asyncio

from app.realtime.transport import ReceiveQueue


async def test_items_come_out_in_order_and_a_waiting_getter_wakes() -> None:
    queue = ReceiveQueue()
    assert queue.empty()
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait({"n": 1})
    queue.put_nowait({"n": 2})
    assert await asyncio.wait_for(waiting, 1) == {"n": 1}
    assert await queue.get() == {"n": 2} and queue.empty()


async def test_a_getter_cancelled_after_its_wake_up_passes_the_item_on() -> None:
    queue = ReceiveQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("item")  # wakes the first...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(first, return_exceptions=True)
    assert await asyncio.wait_for(second, 1) == "item"


async def test_a_timed_out_get_leaves_the_next_item_for_the_next_get() -> None:
    queue = ReceiveQueue()
    try:
        await asyncio.wait_for(queue.get(), 0.01)
    except TimeoutError:
        pass
    queue.put_nowait("late")
    assert await asyncio.wait_for(queue.get(), 1) == "late"
