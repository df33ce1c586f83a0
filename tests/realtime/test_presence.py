"""Presence over WS /api/v1/events: who else views or types in a conversation."""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.config import Settings
from app.main import create_app
from tests.conftest import Factory, signed
from tests.support.server import running


async def frame(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next presence frame (events and heartbeats are skipped)."""
    while True:
        data = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if data["type"] == "presence":
            return data


async def no_frame(ws: ClientConnection) -> None:
    with pytest.raises(TimeoutError):
        await frame(ws, 0.4)


@pytest.mark.slow
async def test_agents_see_each_other_view_type_and_leave(settings: Settings) -> None:
    app = create_app(settings, run_workers=False)
    async with running(app) as host, httpx.AsyncClient(base_url=f"http://{host}") as http:
        factory = Factory(app)
        a_ch, b_ch = await factory.channel("A", "sa"), await factory.channel("B", "sb")
        body, headers = signed("sa", {"id": "1", "from": "u1", "text": "在吗"})
        assert (
            await http.post(f"/webhooks/test/{a_ch['id']}", content=body, headers=headers)
        ).status_code == 200
        li = await factory.user("agent", name="李娜")
        zhang = await factory.user("agent", name="张伟")
        only_b = await factory.user("agent", channels=[b_ch["id"]])
        conv = (await http.get("/api/v1/conversations", headers=li["headers"])).json()["items"][0]

        def socket(user: dict[str, Any]) -> Any:
            return connect(f"ws://{host}/api/v1/events?token={user['token']}")

        async with socket(li) as a, socket(zhang) as b, socket(only_b) as outsider:
            await a.send(
                json.dumps({"type": "presence", "conversation_id": conv["id"], "state": "viewing"})
            )
            seen = await frame(b)
            assert "seq" not in seen
            assert seen["data"] == {
                "conversation_id": conv["id"],
                "user": {"id": li["id"], "name": "李娜"},
                "state": "viewing",
            }
            await b.send(
                json.dumps({"type": "presence", "conversation_id": conv["id"], "state": "viewing"})
            )
            assert (await frame(a))["data"]["user"]["name"] == "张伟"
            assert (await frame(b))["data"]["user"]["name"] == "李娜"  # who was already here
            await a.send(
                json.dumps({"type": "presence", "conversation_id": conv["id"], "state": "typing"})
            )
            assert (await frame(b))["data"]["state"] == "typing"
            for junk in (
                "not json",
                "[]",
                '{"type": "presence", "conversation_id": "1", "state": "x"}',
                json.dumps({"type": "presence", "conversation_id": 99999, "state": "typing"}),
            ):
                await a.send(junk)
            await no_frame(b)
            await no_frame(outsider)  # cannot see channel A: hears nothing about it
            await a.close()
            left = await frame(b)
            assert left["data"]["user"]["id"] == li["id"] and left["data"]["state"] == "idle"


REDIS_URL = os.environ.get("HUILIU_TEST_REDIS_URL")


@pytest.mark.slow
@pytest.mark.skipif(not REDIS_URL, reason="needs HUILIU_TEST_REDIS_URL")
async def test_presence_and_visitor_typing_cross_processes(settings: Settings) -> None:
    """Two processes sharing Redis (as `huiliu serve --workers 2`): an agent on one sees
    who views and types on the other, a newcomer is told who is already there, and a
    visitor's typing reaches agents of the other process."""
    shared = settings.model_copy(update={"redis_url": REDIS_URL})
    app_a, app_b = create_app(shared, run_workers=False), create_app(shared, run_workers=False)
    async with AsyncExitStack() as stack:
        host_a = await stack.enter_async_context(running(app_a))
        host_b = await stack.enter_async_context(running(app_b))
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=f"http://{host_a}"))
        factory = Factory(app_a)
        ch = await factory.channel("A", "sa")
        body, headers = signed("sa", {"id": "1", "from": "u1", "text": "在吗"})
        assert (
            await http.post(f"/webhooks/test/{ch['id']}", content=body, headers=headers)
        ).status_code == 200
        li = await factory.user("agent", name="李娜")
        zhang = await factory.user("agent", name="张伟")
        wang = await factory.user("agent", name="王芳")
        conv = (await http.get("/api/v1/conversations", headers=li["headers"])).json()["items"][0]
        for app in (app_a, app_b):
            await asyncio.wait_for(app.state.services.hub.redis_connected.wait(), 5)

        def socket(host: str, user: dict[str, Any]) -> Any:
            return connect(f"ws://{host}/api/v1/events?token={user['token']}")

        def presence(state: str) -> str:
            return json.dumps({"type": "presence", "conversation_id": conv["id"], "state": state})

        a = await stack.enter_async_context(socket(host_a, li))
        b = await stack.enter_async_context(socket(host_b, zhang))
        await a.send(presence("viewing"))
        seen = await frame(b)
        assert seen["data"]["user"] == {"id": li["id"], "name": "李娜"}
        assert seen["data"]["state"] == "viewing"
        await a.send(presence("typing"))
        assert (await frame(b))["data"]["state"] == "typing"

        # A newcomer on the other process is told who is already there.
        c = await stack.enter_async_context(socket(host_b, wang))
        await c.send(presence("viewing"))
        told = await frame(c)
        assert told["data"]["user"]["id"] == li["id"] and told["data"]["state"] == "typing"
        assert (await frame(a))["data"]["user"]["id"] == wang["id"]  # and the other way

        # A visitor typing on process A's widget socket reaches process B's agents.
        typing = {"type": "visitor.typing", "data": {"conversation_id": conv["id"], "typing": True}}
        app_a.state.services.widget.to_agents(app_a.state.services.hub, ch["id"], typing)
        while (got := json.loads(await asyncio.wait_for(b.recv(), 5)))["type"] != "visitor.typing":
            pass
        assert got == typing

        await a.close()
        left = await frame(b)
        assert left["data"]["user"]["id"] == li["id"] and left["data"]["state"] == "idle"
        assert app_b.state.services.presence.remote == {}
