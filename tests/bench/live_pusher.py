"""The live bench's pushes, sent from their own process (`python -m tests.bench.live_pusher`).

With the pushes and the 200 agent sockets in one client process, each event's 200 frames
were read on the loop that also read the pushes' HTTP answers, so an acknowledgement was
timed late by however long the loop spent on frames (40,000 a second at 200 msg/s): the
client's lag, counted as the server's. Here the pushes go out open-loop at a fixed rate
from a process of their own, on `SENDERS` keep-alive connections, and their send and
answer times come back as JSON. `time.perf_counter` is CLOCK_MONOTONIC on Linux, one
clock for every process, so the parent subtracts these from its sockets' receive times.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from tests.bench.bench_support import HttpClient, PushMaker

SENDERS = 16  # keep-alive connections the pushes are spread over


async def push_at_rate(
    port: int, maker: PushMaker, tag: str, rate: float, seconds: float
) -> dict[str, Any]:
    sent_at: dict[str, float] = {}
    acked_at: dict[str, float] = {}
    statuses: dict[str, int] = {}
    pool: asyncio.Queue[HttpClient] = asyncio.Queue()
    for _ in range(SENDERS):
        pool.put_nowait(await HttpClient.open(port))

    async def push(n: int) -> None:
        content = f"{tag}{n}"
        path, body, _ = maker.make(content)
        client = await pool.get()
        try:
            sent_at[content] = time.perf_counter()
            status, _ = await client.request(
                "POST", path, body, {"Content-Type": "text/xml; charset=utf-8"}
            )
            acked_at[content] = time.perf_counter()
            statuses[content] = status
        finally:
            pool.put_nowait(client)

    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    n = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate) + 1
        while n < due:
            tasks.append(asyncio.create_task(push(n)))
            n += 1
        await asyncio.sleep(max(0.0, (n / rate) - (time.perf_counter() - start)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    return {
        "sent_at": sent_at,
        "acked_at": acked_at,
        "statuses": statuses,
        "next_id": maker.next_id,
    }


def main(argv: list[str]) -> None:
    port, path, customers, next_id, tag, rate, seconds = argv
    maker = PushMaker(path, customers=int(customers))
    maker.next_id = int(next_id)
    out = asyncio.run(push_at_rate(int(port), maker, tag, float(rate), float(seconds)))
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
