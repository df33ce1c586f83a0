"""Redis restarted under two processes: live updates resume on their own and no event is
lost: the hub catches up from the event log by seq, and a reconnecting client too."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from app.config import Settings
from app.main import create_app
from tests.conftest import Factory, signed
from tests.faults.faults_support import eventually, needs_pg_and_redis, private_redis
from tests.support.server import running

pytestmark = needs_pg_and_redis


async def created(ws: ClientConnection, timeout: float) -> dict[str, Any]:
    """The next message.created event (other events and heartbeats are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == "message.created":
                return event


async def test_live_updates_resume_after_redis_restart(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(private_redis())
        # A one-minute poll: within this test only the Redis hint, or the catch-up the
        # subscriber does when it reconnects, can deliver an event from A to B.
        shared = settings.model_copy(update={"redis_url": redis.url, "events_poll_seconds": 60})
        app_a, app_b = create_app(shared), create_app(shared)
        host_a = await stack.enter_async_context(running(app_a))
        host_b = await stack.enter_async_context(running(app_b))
        factory = Factory(app_a)
        channel = await factory.channel()
        agent = await factory.user("agent")
        import httpx

        http = await stack.enter_async_context(httpx.AsyncClient(base_url=f"http://{host_a}"))

        async def push(n: int) -> None:
            payload = {"id": f"r{n}", "from": "cust", "text": f"第{n}条"}
            body, headers = signed(channel["secret"], payload)
            r = await http.post(f"/webhooks/test/{channel['id']}", content=body, headers=headers)
            assert r.status_code == 200

        await asyncio.wait_for(app_b.state.services.hub.redis_connected.wait(), 5)
        ws = await stack.enter_async_context(
            connect(f"ws://{host_b}/api/v1/events?token={agent['token']}")
        )
        await push(1)
        first = await created(ws, 5)
        assert first["data"]["content"] == "第1条"

        await redis.stop()
        await eventually(
            lambda: _false_async(app_b.state.services.hub.redis_connected.is_set()), 10
        )
        await push(2)  # A's hint is lost: Redis is down
        await push(3)
        try:
            early = await created(ws, 1.0)
        except TimeoutError:
            early = None
        assert early is None  # nothing else carries it while Redis is down

        await redis.start()  # same port, empty: no subscriptions, no history
        second, third = await created(ws, 20), await created(ws, 5)
        assert [second["data"]["content"], third["data"]["content"]] == ["第2条", "第3条"]
        await push(4)  # and live again, through the hint
        fourth = await created(ws, 5)
        assert fourth["data"]["content"] == "第4条"

        # A client that reconnects after the last event it saw gets every later one once.
        seen = [first["seq"], second["seq"], third["seq"], fourth["seq"]]
        async with connect(
            f"ws://{host_b}/api/v1/events?token={agent['token']}&since={first['seq']}"
        ) as again:
            replayed = []
            while len(replayed) < 3:
                replayed.append(await created(again, 5))
        assert [e["seq"] for e in replayed] == seen[1:]
        assert seen == sorted(seen)


async def _false_async(value: bool) -> bool:
    return not value
