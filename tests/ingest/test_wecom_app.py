"""WeCom 微信客服 end to end: notice -> pull -> store -> media -> reply -> msg_send_fail.

The fake kf API runs as a real HTTP server on loopback and the app reaches it through
HUILIU_WECOM_API_BASE, the production code path.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.delivery.worker import DeliveryWorker
from app.models import AuditLog, Conversation, Message, PullCursor
from channels.weixin import crypto
from sandbox.wecom.fake import FakeWeCom
from tests.ingest.conftest import PlatformApp

CUSTOMER = "wmCUSTOMER0001"


@pytest.fixture
async def wc(platform_app: PlatformApp) -> Any:
    fake = FakeWeCom()
    values = {
        "corp_id": fake.corp_id,
        "secret": fake.secret,
        "token": fake.token,
        "aes_key": fake.aes_key,
        "open_kfid": list(fake.open_kfids),
    }
    async with platform_app(fake.app, "wecom", "视频号客服", values) as env:
        yield {**env, "fake": fake}


async def notify(wc: dict[str, Any]) -> httpx.Response:
    query, body = wc["fake"].notice()
    return await wc["client"].post(wc["url"], params=query, content=body)


async def messages(app: Any) -> list[Message]:
    async with app.state.services.db.sessions() as s:
        return list(await s.scalars(select(Message).order_by(Message.id)))


async def count(app: Any, model: Any) -> int:
    async with app.state.services.db.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)))


async def test_url_verification_answers_the_plaintext(wc: dict[str, Any]) -> None:
    query = wc["fake"].verification("8765309")
    r = await wc["client"].get(wc["url"], params=query)
    assert (r.status_code, r.text) == (200, "8765309")
    forged = dict(query, msg_signature="0" * 40)
    r = await wc["client"].get(wc["url"], params=forged)
    assert r.status_code == 403


async def test_a_notice_pulls_and_stores_the_customers_messages(wc: dict[str, Any]) -> None:
    app, fake = wc["app"], wc["fake"]
    fake.customer_enters(CUSTOMER)
    fake.customer_writes(CUSTOMER, "你好，我在视频号下的单还没发货", nickname="李女士")
    fake.customer_writes(CUSTOMER, "订单号 2024050112")
    fake.servicer_writes(CUSTOMER, "您好，马上为您查询")
    r = await notify(wc)
    assert (r.status_code, r.text) == (200, "success")
    stored = await messages(app)
    assert [(m.direction, m.content_type, m.content) for m in stored] == [
        ("inbound", "event", "进入了会话（场景 demo） / entered the chat"),
        ("inbound", "text", "你好，我在视频号下的单还没发货"),
        ("inbound", "text", "订单号 2024050112"),
        ("outbound", "text", "您好，马上为您查询"),
    ]
    assert stored[1].sender_name == "李女士"  # from kf/customer/batchget
    async with app.state.services.db.sessions() as s:
        # The entry alone is kept in a quiet, resolved conversation (as WeChat's
        # follows are); the customer's first words open the conversation agents see.
        (conv,) = list(await s.scalars(select(Conversation).where(Conversation.status == "open")))
        cursor = await s.get(PullCursor, (wc["channel_id"], fake.open_kfids[0]))
    assert conv.unread_count == 2 and conv.status == "open"
    assert conv.reply_window_expires_at is not None
    assert cursor is not None and cursor.cursor and cursor.pulled == cursor.requested == 1
    # A retried notice (or a new one with nothing new) stores nothing twice.
    await notify(wc)
    assert len(await messages(app)) == 4


async def test_refused_notices_store_nothing(wc: dict[str, Any]) -> None:
    app, fake, client, url = wc["app"], wc["fake"], wc["client"], wc["url"]
    fake.customer_writes(CUSTOMER, "hi")
    query, body = fake.notice()
    assert (
        await client.post(url, params=dict(query, msg_signature="1" * 40), content=body)
    ).status_code == 403
    other = FakeWeCom(corp_id="wwANOTHERCORP", aes_key=fake.aes_key, token=fake.token)
    q2, b2 = other.notice()
    assert (await client.post(url, params=q2, content=b2)).status_code == 403
    assert (await client.post(url, params=query, content=b"<xml><Encrypt>")).status_code == 400
    assert (await client.post(url, params={}, content=body)).status_code == 403
    assert await count(app, Message) == 0 and await count(app, PullCursor) == 0
    assert fake.sync_calls == []


async def test_a_pull_error_is_kept_owed_and_nothing_is_lost(wc: dict[str, Any]) -> None:
    app, fake = wc["app"], wc["fake"]
    fake.customer_writes(CUSTOMER, "第一条")
    fake.fail_next("/cgi-bin/kf/sync_msg", -1)
    r = await notify(wc)
    assert (r.status_code, r.text) == (200, "success")
    assert await count(app, Message) == 0
    assert await app.state.services.puller.owed() == [(wc["channel_id"], fake.open_kfids[0])]
    # The periodic catch-up (no notice token) gets it.
    assert await app.state.services.puller.run_owed() == 1
    assert [m.content for m in await messages(app)] == ["第一条"]
    assert await app.state.services.puller.owed() == []


async def test_a_notice_never_delivered_is_caught_up_by_the_periodic_pull(
    wc: dict[str, Any],
) -> None:
    from datetime import timedelta

    app, fake = wc["app"], wc["fake"]
    fake.customer_writes(CUSTOMER, "第一条")
    await notify(wc)
    fake.customer_writes(CUSTOMER, "这条的通知丢了")  # WeCom could not reach us: no notice
    assert await app.state.services.puller.owed() == []
    assert await app.state.services.puller.catch_up() == 0  # the cursor moved moments ago
    assert await app.state.services.puller.catch_up(timedelta(0)) == 1
    assert [m.content for m in await messages(app)] == ["第一条", "这条的通知丢了"]
    assert "token" not in fake.sync_calls[-1]  # no notice, no token: the slower lane


async def test_two_notices_at_once_never_pull_a_page_twice(wc: dict[str, Any]) -> None:
    app, fake = wc["app"], wc["fake"]
    for i in range(30):
        fake.customer_writes(f"wmC{i % 4}", f"消息{i}")
    results = await asyncio.gather(*(notify(wc) for _ in range(3)))
    assert [r.text for r in results] == ["success"] * 3
    assert sorted(m.content for m in await messages(app)) == sorted(f"消息{i}" for i in range(30))
    cursors = [c["cursor"] for c in fake.sync_calls]
    # Each call after the first starts where the previous stopped: no cursor reused
    # except the final "nothing new" read of a notice already covered.
    assert cursors[0] == "" and len([c for c in cursors if c == ""]) == 1


async def test_reply_then_msg_send_fail_marks_it_failed(wc: dict[str, Any]) -> None:
    app, client, fake = wc["app"], wc["client"], wc["fake"]
    agent = await wc["factory"].user("agent")
    fake.customer_writes(CUSTOMER, "能开发票吗")
    await notify(wc)
    conv = (await client.get("/api/v1/conversations", headers=agent["headers"])).json()["items"][0]
    worker = DeliveryWorker(
        app.state.services.db, app.state.services.http, app.state.services.settings
    )
    sent = (
        await client.post(
            f"/api/v1/conversations/{conv['id']}/messages",
            json={"content": "可以的，请提供抬头和税号"},
            headers=agent["headers"],
        )
    ).json()
    await worker.run_once()
    (body,) = fake.sent
    assert body["text"] == {"content": "可以的，请提供抬头和税号"}
    assert body["touser"] == CUSTOMER and body["open_kfid"] == fake.open_kfids[0]
    async with app.state.services.db.sessions() as s:
        row = await s.get(Message, sent["id"])
    assert row is not None and row.delivery_status == "sent"
    assert row.external_id == body["msgid"]
    # The platform later reports it could not deliver it (the user refuses messages).
    fake.fail_delivery(body["msgid"], 10)
    await notify(wc)
    got = (
        await client.get(f"/api/v1/conversations/{conv['id']}/messages", headers=agent["headers"])
    ).json()["items"]
    mine = next(m for m in got if m["id"] == sent["id"])
    assert mine["delivery_status"] == "failed"
    assert mine["error"].startswith("user_refused: 用户拒收")
    assert len(got) == 2  # the failure is not a chat message


async def test_inbound_image_is_downloaded_after_the_answer(wc: dict[str, Any]) -> None:
    app, fake = wc["app"], wc["fake"]
    media_id = fake.add_media(b"\xff\xd8\xffJPEG", "image/jpeg", "photo.jpg")
    fake.customer_writes(CUSTOMER, msgtype="image", payload={"media_id": media_id})
    await notify(wc)
    (message,) = await messages(app)
    assert message.content_type == "image" and message.media_pending
    await app.state.services.media.run_once()
    (message,) = await messages(app)
    assert message.attachments[0]["status"] == "ready"
    assert message.attachments[0]["mime_type"] == "image/jpeg"


async def test_servicer_status_goes_to_the_channel_log(wc: dict[str, Any]) -> None:
    app, fake = wc["app"], wc["fake"]
    fake.add_event(
        {"event_type": "servicer_status_change", "servicer_userid": "zhangsan", "status": 2}
    )
    await notify(wc)
    assert await count(app, Message) == 0
    async with app.state.services.db.sessions() as s:
        (log,) = list(
            await s.scalars(select(AuditLog).where(AuditLog.action == "channel.platform_notice"))
        )
    assert log.object_id == str(wc["channel_id"])
    assert log.details["event"] == "servicer_status_change"
    assert "zhangsan" in log.details["text"]


def test_the_fake_signs_like_the_official_sample() -> None:
    fake = FakeWeCom()
    query, body = fake.notice()
    encrypted = body.split(b"<Encrypt><![CDATA[")[1].split(b"]]>")[0].decode()
    assert crypto.signature_matches(
        query["msg_signature"], fake.token, query["timestamp"], query["nonce"], encrypted
    )


async def test_the_simulator_writes_as_wecom_customers(wc: dict[str, Any]) -> None:
    from app.workspace import validate_config
    from sandbox.simulator.simulator import SimChannel, Simulator

    app, fake = wc["app"], wc["fake"]
    async with app.state.services.db.sessions() as s:
        from app.models import Channel

        row = await s.get(Channel, wc["channel_id"])
        assert row is not None
        config = validate_config("wecom", dict(row.config))
    channel = SimChannel(id=wc["channel_id"], type="wecom", config=config)
    sim = Simulator("http://testserver", [channel], http=wc["client"], seed=3, wecom={})
    assert sim.channels == []  # without the platform at hand a kf channel cannot be simulated
    sim = Simulator(
        "http://testserver", [channel], http=wc["client"], seed=3, wecom={channel.id: fake}
    )
    for _ in range(6):
        await sim.step(wc["client"])
    assert sim.stats.sent == 6 and sim.stats.failed == 0
    stored = await messages(app)
    texts = [m for m in stored if m.content_type == "text"]
    assert len(texts) == 6
    assert all(m.sender_name for m in texts)  # nicknames came from batchget


async def test_the_channel_list_shows_it_without_secrets(wc: dict[str, Any]) -> None:
    admin = await wc["factory"].user("admin")
    r = await wc["client"].get("/api/v1/channels", headers=admin["headers"])
    assert r.status_code == 200
    (channel,) = [c for c in r.json()["items"] if c["type"] == "wecom"]
    assert channel["id"] == wc["channel_id"]
    fake = wc["fake"]
    assert fake.secret not in r.text and fake.aes_key not in r.text and fake.token not in r.text
