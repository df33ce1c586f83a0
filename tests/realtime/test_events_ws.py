"""WS /api/v1/events: live, resumable by seq, filtered by visibility, fanned out over Redis."""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from app.config import Settings
from app.main import create_app
from tests.conftest import Factory, signed
from tests.support.server import running

REDIS_URL = os.environ.get("HUILIU_TEST_REDIS_URL")


async def next_event(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if event["type"] != "heartbeat":
            return event


async def no_event(ws: ClientConnection, within: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await next_event(ws, within)


class Live:
    """A running server plus helpers to push webhooks and open event sockets."""

    def __init__(self, app: Any, host: str) -> None:
        self.app = app
        self.host = host
        self.http = httpx.AsyncClient(base_url=f"http://{host}")
        self.factory = Factory(app)

    async def push(self, channel: dict[str, Any], payload: Any) -> None:
        body, headers = signed(channel["secret"], payload)
        r = await self.http.post(f"/webhooks/test/{channel['id']}", content=body, headers=headers)
        assert r.status_code == 200, r.text

    def events(self, token: str, since: int | None = None) -> Any:
        query = f"token={token}" + (f"&since={since}" if since is not None else "")
        return connect(f"ws://{self.host}/api/v1/events?{query}")


@pytest.fixture
async def live(settings: Settings) -> Any:
    app = create_app(settings)
    async with running(app) as host:
        lv = Live(app, host)
        yield lv
        await lv.http.aclose()


async def test_new_messages_arrive_live_in_seq_order(live: Live) -> None:
    ch = await live.factory.channel()
    agent = await live.factory.user("agent")
    async with live.events(agent["token"]) as ws:
        await live.push(ch, {"id": "1", "from": "u1", "name": "<b>小红</b>", "text": "在吗？"})
        first, second = await next_event(ws), await next_event(ws)
    assert first["type"] == "message.created" and first["data"]["content"] == "在吗？"
    assert second["type"] == "conversation.created"
    assert second["data"]["contact"]["name"] == "<b>小红</b>"  # data as stored; pages escape
    assert second["seq"] == first["seq"] + 1
    assert set(first) == {"seq", "type", "data"}


async def test_reconnect_with_since_gets_every_missed_event_once(live: Live) -> None:
    ch = await live.factory.channel()
    agent = await live.factory.user("agent")
    async with live.events(agent["token"]) as ws:
        await live.push(ch, {"id": "1", "from": "u1", "text": "one"})
        await next_event(ws)
        last = (await next_event(ws))["seq"]
    for i in range(2, 5):
        await live.push(ch, {"id": str(i), "from": "u1", "text": f"n{i}"})
    async with live.events(agent["token"], since=last) as ws:
        missed = [await next_event(ws) for _ in range(6)]
        await live.push(ch, {"id": "5", "from": "u1", "text": "live again"})
        after = [await next_event(ws), await next_event(ws)]
        await no_event(ws)
    seqs = [e["seq"] for e in missed + after]
    assert seqs == list(range(last + 1, last + 9))
    texts = [e["data"]["content"] for e in missed + after if e["type"] == "message.created"]
    assert texts == ["n2", "n3", "n4", "live again"]


async def test_too_far_behind_gets_resync(live: Live) -> None:
    live.app.state.services.settings.events_replay_limit = 3
    ch = await live.factory.channel()
    agent = await live.factory.user("agent")
    for i in range(4):
        await live.push(ch, {"id": str(i), "from": "u1", "text": str(i)})
    async with live.events(agent["token"], since=0) as ws:
        event = await next_event(ws)
    assert event["type"] == "resync" and event["seq"] == 8


async def test_agent_limited_to_a_channel_sees_only_its_events(live: Live) -> None:
    a = await live.factory.channel("A", "sa")
    b = await live.factory.channel("B", "sb")
    limited = await live.factory.user("agent", channels=[a["id"]])
    async with live.events(limited["token"], since=0) as ws:
        await live.push(b, {"id": "b1", "from": "u", "text": "B only"})
        await live.push(a, {"id": "a1", "from": "u", "text": "A here"})
        event = await next_event(ws)
        assert event["data"]["content"] == "A here"


@pytest.mark.parametrize("query", ["", "token=wrong", "token=x&since=-1"])
async def test_unauthenticated_socket_is_closed(live: Live, query: str) -> None:
    with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
        async with connect(f"ws://{live.host}/api/v1/events?{query}") as ws:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code in (4401, 1008)


async def test_bad_since_is_refused(live: Live) -> None:
    agent = await live.factory.user("agent")
    with pytest.raises(websockets.exceptions.ConnectionClosed):
        async with connect(f"ws://{live.host}/api/v1/events?token={agent['token']}&since=x") as ws:
            await ws.recv()


async def test_reply_status_reaches_the_websocket(live: Live) -> None:
    ch = await live.factory.channel()
    agent = await live.factory.user("agent")
    await live.push(ch, {"id": "1", "from": "u1", "text": "hi"})
    conv = (await live.http.get("/api/v1/conversations", headers=agent["headers"])).json()
    conv_id = conv["items"][0]["id"]
    async with live.events(agent["token"]) as ws:
        r = await live.http.post(
            f"/api/v1/conversations/{conv_id}/messages",
            json={"content": "您好"},
            headers=agent["headers"],
        )
        assert r.status_code == 201
        seen = [await next_event(ws) for _ in range(4)]
    # The first reply made the agent the customer's owner (contact.updated, issue 15).
    owner = [e for e in seen if e["type"] == "contact.updated"]
    assert len(owner) == 1 and owner[0]["data"]["owner"]["id"] == agent["id"]
    types = [(e["type"], e["data"].get("delivery_status")) for e in seen if e not in owner]
    assert types == [
        ("message.created", "queued"),
        ("conversation.assigned", None),  # the reply took the unassigned conversation
        ("message.updated", "sent"),
    ]


@pytest.mark.skipif(not REDIS_URL, reason="needs HUILIU_TEST_REDIS_URL")
async def test_event_from_one_process_reaches_a_socket_of_another(settings: Settings) -> None:
    # A long poll interval: only the Redis hint can deliver within the timeout.
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "events_poll_seconds": 60.0})
    app_a, app_b = create_app(shared), create_app(shared)
    async with AsyncExitStack() as stack:
        host_a = await stack.enter_async_context(running(app_a))
        host_b = await stack.enter_async_context(running(app_b))
        a, b = Live(app_a, host_a), Live(app_b, host_b)
        stack.push_async_callback(a.http.aclose)
        stack.push_async_callback(b.http.aclose)
        ch = await a.factory.channel()
        agent = await a.factory.user("agent")
        await asyncio.wait_for(app_b.state.services.hub.redis_connected.wait(), 5)
        ws = await stack.enter_async_context(b.events(agent["token"]))
        await a.push(ch, {"id": "x1", "from": "u1", "text": "跨进程"})
        event = await next_event(ws, timeout=3)
        assert event["data"]["content"] == "跨进程"
        await next_event(ws, timeout=3)

        # The subscriber survives its Redis connection being killed, and catches up.
        import redis.asyncio as aioredis

        admin = aioredis.from_url(REDIS_URL)
        await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        await admin.aclose()
        await a.push(ch, {"id": "x2", "from": "u1", "text": "断线后"})
        event = await next_event(ws, timeout=8)
        assert event["data"]["content"] == "断线后"
