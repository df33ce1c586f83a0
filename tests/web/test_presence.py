"""Presence over WS /api/v1/events: who else views or types in a conversation."""

from __future__ import annotations

import asyncio
import json
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
