"""Douyin end to end through the product: event -> store once -> websocket -> reply via the
fake open API -> the im_send_msg echo marks it delivered without a duplicate."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import connect

from app.config import Settings
from app.delivery.worker import DeliveryWorker
from app.main import create_app
from app.models import Message
from app.workspace import create_channel
from sandbox.douyin.fake import FakeDouyin
from sandbox.douyin.pushes import build_verify_webhook
from tests.conftest import Factory
from tests.support.server import running


@pytest.fixture
async def dy(settings: Settings) -> Any:
    fake = FakeDouyin(clock=lambda: datetime.now(UTC))  # real time, like the worker
    async with running(fake.app) as fake_host:
        s = settings.with_api_bases(douyin=f"http://{fake_host}")
        fake.base_url = f"http://{fake_host}"
        app = create_app(s, run_workers=False)
        async with running(app) as host:
            async with httpx.AsyncClient(base_url=f"http://{host}") as client:
                async with app.state.services.db.session() as session:
                    channel = await create_channel(
                        session, "douyin", "抖音旗舰店", fake.config_values()
                    )
                yield {
                    "app": app,
                    "host": host,
                    "client": client,
                    "fake": fake,
                    "channel_id": channel.id,
                    "factory": Factory(app),
                }


async def post(dy: dict[str, Any], headers: dict[str, str], body: bytes) -> httpx.Response:
    return await dy["client"].post(
        f"/webhooks/douyin/{dy['channel_id']}", content=body, headers=headers
    )


async def messages(app: Any) -> list[Message]:
    async with app.state.services.db.sessions() as s:
        return list(await s.scalars(select(Message).order_by(Message.id)))


async def test_challenge_and_signature(dy: dict[str, Any]) -> None:
    headers, body = build_verify_webhook(dy["fake"].client_secret, 12345)
    r = await post(dy, headers, body)
    assert r.status_code == 200 and r.json() == {"challenge": 12345}
    r = await post(dy, {**headers, "X-Douyin-Signature": "0" * 40}, body)
    assert r.status_code == 403
    headers, body = dy["fake"].customer_event("im_receive_msg", "cust-1", text="你好")
    r = await post(dy, {**headers, "X-Douyin-Signature": "0" * 40}, body)
    assert r.status_code == 403
    r = await post(dy, headers, b"{not json")
    assert r.status_code in (400, 403)
    assert await messages(dy["app"]) == []


async def test_round_trip_exactly_once_each_way(dy: dict[str, Any]) -> None:
    app, fake = dy["app"], dy["fake"]
    agent = await dy["factory"].user("agent")
    async with connect(f"ws://{dy['host']}/api/v1/events?token={agent['token']}") as ws:
        headers, body = fake.customer_event(
            "im_receive_msg", "cust-9", nickname="小王", text="这个还有货吗"
        )
        copies = await asyncio.gather(*(post(dy, headers, body) for _ in range(3)))
        assert {r.status_code for r in copies} == {200}
        event = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert event["type"] == "message.created" and event["data"]["content"] == "这个还有货吗"
    assert len(await messages(app)) == 1

    conv = (await dy["client"].get("/api/v1/conversations", headers=agent["headers"])).json()
    item = conv["items"][0]
    assert item["contact"]["name"] == "小王" and item["channel"]["type"] == "douyin"
    r = await dy["client"].post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"content": "有货的，今天下单明天发"},
        headers=agent["headers"],
    )
    reply = r.json()
    worker = DeliveryWorker(
        app.state.services.db, app.state.services.http, app.state.services.settings, clock=fake.now
    )
    await worker.run_once()
    (sent,) = fake.sent
    assert sent.text == "有货的，今天下单明天发" and sent.to_user_id == "cust-9"
    assert sent.body["conversation_id"] == fake.conversation_id("cust-9")
    assert sent.body["scene"] == "im_replay_msg"

    # Douyin echoes our own send back: recognised, never stored twice.
    headers, body = fake.echo_of(sent)
    assert (await post(dy, headers, body)).status_code == 200
    stored = await messages(app)
    assert [m.content for m in stored] == ["这个还有货吗", "有货的，今天下单明天发"]
    assert stored[1].id == reply["id"] and stored[1].delivery_status == "sent"

    # A message staff sent from Douyin's own app is kept as outbound history.
    headers, body = fake.customer_event("im_send_msg", "cust-9", text="（手机端回复）好的")
    await post(dy, headers, body)
    stored = await messages(app)
    assert stored[-1].direction == "outbound" and stored[-1].content == "（手机端回复）好的"
    assert len(stored) == 3


async def test_echo_arriving_before_the_send_returned_is_matched(dy: dict[str, Any]) -> None:
    app, fake = dy["app"], dy["fake"]
    agent = await dy["factory"].user("agent")
    headers, body = fake.customer_event("im_receive_msg", "cust-2", text="在吗")
    await post(dy, headers, body)
    conv = (await dy["client"].get("/api/v1/conversations", headers=agent["headers"])).json()
    await dy["client"].post(
        f"/api/v1/conversations/{conv['items'][0]['id']}/messages",
        json={"content": "在的"},
        headers=agent["headers"],
    )
    # the echo lands while our send is still queued
    headers, body = fake.customer_event(
        "im_send_msg", "cust-2", text="在的", server_message_id="early-echo-id"
    )
    await post(dy, headers, body)
    stored = await messages(app)
    assert [m.content for m in stored] == ["在吗", "在的"]
    assert stored[1].external_id == "early-echo-id"


async def test_refusal_and_lost_grant_are_visible(dy: dict[str, Any]) -> None:
    app, fake = dy["app"], dy["fake"]
    agent = await dy["factory"].user("agent")
    headers, body = fake.customer_event("im_receive_msg", "cust-3", text="退货")
    await post(dy, headers, body)
    conv = (await dy["client"].get("/api/v1/conversations", headers=agent["headers"])).json()
    conv_id = conv["items"][0]["id"]
    worker = DeliveryWorker(
        app.state.services.db, app.state.services.http, app.state.services.settings, clock=fake.now
    )

    fake.fail_next_sends(1)
    r = await dy["client"].post(
        f"/api/v1/conversations/{conv_id}/messages",
        json={"content": "好的"},
        headers=agent["headers"],
    )
    await worker.run_once()
    refused = next(m for m in await messages(app) if m.id == r.json()["id"])
    assert refused.delivery_status == "failed" and "超出可回复时间" in refused.error

    fake.revoke_access_tokens()
    fake.revoke_refresh_tokens()
    r = await dy["client"].post(
        f"/api/v1/conversations/{conv_id}/messages",
        json={"content": "再试一次"},
        headers=agent["headers"],
    )
    await worker.run_once()
    lost = next(m for m in await messages(app) if m.id == r.json()["id"])
    assert lost.delivery_status == "failed" and "重新授权" in lost.error
    channels = (await dy["client"].get("/api/v1/channels", headers=agent["headers"])).json()
    (channel,) = channels["items"]
    assert channel["needs_reauthorization"] is True and channel["status_reason"]


async def test_media_is_fetched_after_the_ack(dy: dict[str, Any]) -> None:
    app, fake = dy["app"], dy["fake"]
    headers, body = fake.customer_event(
        "im_receive_msg",
        "cust-4",
        message_type="image",
        resource_url=fake.add_cdn_file(b"\xff\xd8 jpeg bytes", "image/jpeg"),
    )
    assert (await post(dy, headers, body)).status_code == 200
    await app.state.services.media.run_once()
    (stored,) = await messages(app)
    assert stored.content_type == "image"
    assert stored.attachments[0]["status"] == "ready", stored.attachments
    async with app.state.services.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == 1
