"""WeChat end to end through the product: webhook -> store -> media -> reply via the fake API.

The fake WeChat API runs as a real HTTP server on loopback and the app reaches it
through HUILIU_WECHAT_API_BASE, the same code path as production.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.config import Settings
from app.delivery.worker import DeliveryWorker
from app.main import create_app
from app.models import Contact, ContactIdentity, Conversation, EventLog, Message, Task
from channels.wechat import WeChatConfig
from sandbox.wechat.fake import FakeWeChat, build_push, build_verification, event_xml, message_xml
from tests.conftest import Factory
from tests.ingest.conftest import PlatformApp
from tests.support.server import running

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
async def wx(platform_app: PlatformApp) -> Any:
    fake = FakeWeChat()  # its clock follows real time, like the worker's
    values = {
        "app_id": fake.app_id,
        "app_secret": fake.app_secret,
        "token": "wxtoken123",
        "aes_key": AES_KEY,
    }
    async with platform_app(fake.app, "wechat", "官方公众号", values) as env:
        yield {**env, "fake": fake, "config": WeChatConfig(**values)}


async def post(wx: dict[str, Any], xml: str, encrypt: bool = True) -> httpx.Response:
    query, body = build_push(wx["config"], xml, encrypt=encrypt)
    return await wx["client"].post(
        f"/webhooks/wechat/{wx['channel_id']}", params=query, content=body
    )


async def count(app: Any, model: Any) -> int:
    async with app.state.services.db.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)))


async def test_server_url_verification(wx: dict[str, Any]) -> None:
    query = build_verification(wx["config"], echostr="echo-123")
    r = await wx["client"].get(f"/webhooks/wechat/{wx['channel_id']}", params=query)
    assert r.status_code == 200 and r.text == "echo-123"
    query["signature"] = "0" * 40
    r = await wx["client"].get(f"/webhooks/wechat/{wx['channel_id']}", params=query)
    assert r.status_code == 403


async def test_plain_and_safe_mode_pushes_are_stored_once(wx: dict[str, Any]) -> None:
    xml = message_xml("oCustomer1", Content="你好，我的订单还没发货", msg_id=1001)
    copies = await asyncio.gather(*(post(wx, xml) for _ in range(3)))
    assert [(r.status_code, r.text) for r in copies] == [(200, "success")] * 3
    # The channel has an EncodingAESKey: a plaintext push (body not signed) is refused.
    r = await post(wx, message_xml("oCustomer1", Content="明文", msg_id=1003), encrypt=False)
    assert r.status_code == 403
    r = await post(wx, message_xml("oCustomer1", Content="加密模式", msg_id=1002))
    assert r.status_code == 200
    async with wx["app"].state.services.db.sessions() as s:
        texts = list(await s.scalars(select(Message.content).order_by(Message.id)))
    assert texts == ["你好，我的订单还没发货", "加密模式"]


async def test_bad_signature_and_malformed_xml_store_nothing(wx: dict[str, Any]) -> None:
    query, body = build_push(wx["config"], message_xml("oX", Content="hi", msg_id=7))
    bad = {**query, "signature": "f" * 40}
    r = await wx["client"].post(f"/webhooks/wechat/{wx['channel_id']}", params=bad, content=body)
    assert r.status_code == 403
    query, _ = build_push(wx["config"], message_xml("oX", Content="hi", msg_id=8), encrypt=True)
    r = await wx["client"].post(
        f"/webhooks/wechat/{wx['channel_id']}", params=query, content=b"<xml><broken"
    )
    assert r.status_code == 400
    assert await count(wx["app"], Message) == 0


async def test_subscribe_and_unsubscribe_mark_the_identity(wx: dict[str, Any]) -> None:
    app, client = wx["app"], wx["client"]
    admin = await wx["factory"].user("admin")
    await post(wx, event_xml("oFan", "subscribe", create_time=1700000000))
    assert await count(app, Conversation) == 1
    convs = (await client.get("/api/v1/conversations", headers=admin["headers"])).json()
    assert convs["items"] == []  # a follower who said nothing does not fill the queue
    await post(wx, message_xml("oFan", Content="你们几点下班", msg_id=2001))
    await post(wx, event_xml("oFan", "unsubscribe", create_time=1700000100))
    item = (await client.get("/api/v1/conversations", headers=admin["headers"])).json()["items"][0]
    assert item["contact_unreachable"] is True and item["unread_count"] == 1
    msgs = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=admin["headers"])
    ).json()["items"]
    # Newest first: unsubscribe, the question, and the subscribe that came before it.
    assert [m["content_type"] for m in msgs] == ["event", "text", "event"]
    async with app.state.services.db.sessions() as s:
        identity = await s.scalar(select(ContactIdentity))
        assert identity.unreachable is True


async def test_a_follower_who_writes_continues_the_follow_conversation(
    wx: dict[str, Any],
) -> None:
    """Subscribe, then a message: one conversation reading "followed, then asked", not a
    one-event resolved conversation and a second one (issue 21, item 7)."""
    app, client = wx["app"], wx["client"]
    admin = await wx["factory"].user("admin")
    await post(wx, event_xml("oNew", "subscribe", create_time=1700000000))
    await post(wx, message_xml("oNew", Content="你好", msg_id=2101))
    assert await count(app, Conversation) == 1
    item = (await client.get("/api/v1/conversations", headers=admin["headers"])).json()["items"][0]
    assert item["status"] == "open" and item["unread_count"] == 1
    msgs = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=admin["headers"])
    ).json()["items"]
    assert sorted((m["id"], m["content_type"]) for m in msgs)[0][1] == "event"
    assert {m["content_type"] for m in msgs} == {"event", "text"}
    # Resolved after a real exchange, the next message opens a new conversation as before.
    r = await client.post(
        f"/api/v1/conversations/{item['id']}/status",
        json={"status": "resolved"},
        headers=admin["headers"],
    )
    assert r.status_code == 200
    await post(wx, message_xml("oNew", Content="还有个问题", msg_id=2102))
    assert await count(app, Conversation) == 2


async def test_image_is_downloaded_after_the_ack_and_served(wx: dict[str, Any]) -> None:
    app, client, fake = wx["app"], wx["client"], wx["fake"]
    admin = await wx["factory"].user("admin")
    fake.add_media("MEDIA_OK", b"\x89PNG fake image bytes", "image/png")
    await post(
        wx,
        message_xml(
            "oPic", "image", PicUrl="http://example.invalid/x.png", MediaId="MEDIA_OK", msg_id=3001
        ),
    )
    await post(
        wx,
        message_xml(
            "oPic",
            "image",
            PicUrl="http://example.invalid/y.png",
            MediaId="MEDIA_MISSING",
            msg_id=3002,
        ),
    )
    assert await count(app, Message) == 2  # stored before any download
    await app.state.services.media.run_once()
    async with app.state.services.db.sessions() as s:
        ok, missing = list(await s.scalars(select(Message).order_by(Message.id)))
    assert ok.attachments[0]["status"] == "ready" and ok.media_pending is False
    assert missing.attachments[0]["status"] == "retrying" and missing.media_pending is True
    assert missing.attachments[0]["error"]
    r = await client.get(ok.attachments[0]["url"], headers=admin["headers"])
    assert r.status_code == 200 and r.content == b"\x89PNG fake image bytes"
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert (await client.get(ok.attachments[0]["url"])).status_code == 401


async def test_reply_goes_out_through_the_customer_service_api(wx: dict[str, Any]) -> None:
    app, client, fake = wx["app"], wx["client"], wx["fake"]
    agent = await wx["factory"].user("agent")
    fake.customer_wrote("oBuyer")
    await post(wx, message_xml("oBuyer", Content="能开发票吗", msg_id=4001))
    conv = (await client.get("/api/v1/conversations", headers=agent["headers"])).json()["items"][0]
    worker = DeliveryWorker(
        app.state.services.db, app.state.services.http, app.state.services.settings, clock=fake.now
    )
    ok = (
        await client.post(
            f"/api/v1/conversations/{conv['id']}/messages",
            json={"content": "可以的，请提供抬头和税号"},
            headers=agent["headers"],
        )
    ).json()
    await worker.run_once()
    assert fake.sent == [
        {"touser": "oBuyer", "msgtype": "text", "text": {"content": "可以的，请提供抬头和税号"}}
    ]
    fake.fail_next_sends(45015)
    bad = (
        await client.post(
            f"/api/v1/conversations/{conv['id']}/messages",
            json={"content": "还在吗"},
            headers=agent["headers"],
        )
    ).json()
    await worker.run_once()
    msgs = (
        await client.get(f"/api/v1/conversations/{conv['id']}/messages", headers=agent["headers"])
    ).json()["items"]
    by_id = {m["id"]: m for m in msgs}
    assert by_id[ok["id"]]["delivery_status"] == "sent"
    assert by_id[bad["id"]]["delivery_status"] == "failed"
    assert "45015" in by_id[bad["id"]]["error"]


async def test_agent_typing_is_relayed_and_throttled(wx: dict[str, Any]) -> None:
    from app.delivery.typing import TypingRelay

    app, client, fake = wx["app"], wx["client"], wx["fake"]
    admin = await wx["factory"].user("admin")
    fake.customer_wrote("oTyping")
    await post(wx, message_xml("oTyping", Content="在吗", msg_id=5001))
    conv = (await client.get("/api/v1/conversations", headers=admin["headers"])).json()["items"][0]
    relay = TypingRelay(app.state.services.db, app.state.services.http, app.state.services.settings)
    relay.agent_typing(conv["id"])
    relay.agent_typing(conv["id"])  # within the throttle: no second call
    await asyncio.gather(*relay._tasks)
    assert [(c["touser"], c["command"]) for c in fake.typing_calls] == [("oTyping", "Typing")]


async def test_push_reaches_an_agent_websocket_once(settings: Settings) -> None:
    import json

    from websockets.asyncio.client import connect

    from app.workspace import create_channel

    fake = FakeWeChat()
    async with running(fake.app) as fake_host:
        app = create_app(settings.with_api_bases(wechat=f"http://{fake_host}"))
        async with running(app) as host, httpx.AsyncClient(base_url=f"http://{host}") as http:
            async with app.state.services.db.session() as session:
                channel = await create_channel(
                    session,
                    "wechat",
                    "公众号",
                    {
                        "app_id": fake.app_id,
                        "app_secret": fake.app_secret,
                        "token": "tk",
                        "aes_key": AES_KEY,
                    },
                )
            config = WeChatConfig(
                app_id=fake.app_id, app_secret=fake.app_secret, token="tk", aes_key=AES_KEY
            )
            agent = await Factory(app).user("agent")
            url = f"ws://{host}/api/v1/events?token={agent['token']}"
            async with connect(url) as ws:
                query, body = build_push(
                    config, message_xml("oLive", Content="实时", msg_id=6001), encrypt=True
                )
                for _ in range(3):  # WeChat's retries
                    r = await http.post(
                        f"/webhooks/wechat/{channel.id}", params=query, content=body
                    )
                    assert r.text == "success"
                created = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert created["type"] == "message.created"
                assert created["data"]["content"] == "实时"
                assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == (
                    "conversation.created"
                )
                with pytest.raises(TimeoutError):  # the two retries published nothing
                    await asyncio.wait_for(ws.recv(), 0.5)


async def test_a_media_id_naming_a_url_is_never_fetched(wx: dict[str, Any]) -> None:
    """Server-side request forgery: a push aims the download at an internal service."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    hits: list[str] = []

    async def secret(request: Any) -> PlainTextResponse:
        hits.append(request.url.path)
        return PlainTextResponse("internal secret", media_type="image/png")

    internal = Starlette(routes=[Route("/{path:path}", secret)])
    app = wx["app"]
    async with running(internal) as host:
        for msg_id, kind in ((5001, "image"), (5002, "voice"), (5003, "video")):
            r = await post(
                wx, message_xml("oEvil", kind, MediaId=f"http://{host}/meta", msg_id=msg_id)
            )
            assert (r.status_code, r.text) == (200, "success")
        await app.state.services.media.run_once()
    assert hits == []
    async with app.state.services.db.sessions() as s:
        stored = list(await s.scalars(select(Message).order_by(Message.id)))
    assert [m.content_type for m in stored] == ["image", "voice", "video"]
    for message in stored:
        (att,) = message.attachments
        assert att["status"] == "failed" and message.media_pending is False
        assert att["error"].startswith("refused_address")
        assert "storage_key" not in att


async def _churn_tasks(app: Any) -> list[tuple[Task, list[dict[str, Any]]]]:
    async with app.state.services.db.sessions() as s:
        tasks = list(await s.scalars(select(Task).where(Task.kind == "churned").order_by(Task.id)))
        events = [
            e.data for e in await s.scalars(select(EventLog).where(EventLog.type == "task.created"))
        ]
    return [(t, [e for e in events if e["id"] == t.id]) for t in tasks]


async def test_an_unsubscribe_alerts_the_owner_once(wx: dict[str, Any]) -> None:
    """Issue 17: a hard churn event makes a task for the customer's owner, announced
    live as task.created, in the webhook's transaction; a retried push makes no second."""
    app = wx["app"]
    owner = await wx["factory"].user("agent", name="王芳")
    await post(wx, message_xml("oOwned", Content="在吗", msg_id=3001))
    async with app.state.services.db.session() as s:
        await s.execute(update(Contact).values(owner_id=owner["id"]))
    assert await _churn_tasks(app) == []  # a message is no churn
    unsubscribe = event_xml("oOwned", "unsubscribe", create_time=1700000200)
    for _ in range(2):  # the platform retries when it did not hear back in time
        r = await post(wx, unsubscribe)
        assert (r.status_code, r.text) == (200, "success")
    [(task, events)] = await _churn_tasks(app)
    assert task.assignee_id == owner["id"] and task.status == "open"
    assert task.title == "客户已取消关注公众号" and task.source == "churn"
    assert len(events) == 1 and events[0]["assignee"]["id"] == owner["id"]
    assert events[0]["kind"] == "churned" and events[0]["title"] == "客户已取消关注公众号"
    # Following again and leaving again is a new event: a new alert.
    await post(wx, event_xml("oOwned", "subscribe", create_time=1700000300))
    await post(wx, event_xml("oOwned", "unsubscribe", create_time=1700000400))
    assert len(await _churn_tasks(app)) == 2


async def test_an_unsubscribe_without_an_owner_is_an_unassigned_task(wx: dict[str, Any]) -> None:
    await post(wx, event_xml("oNobody", "subscribe", create_time=1700000000))
    await post(wx, event_xml("oNobody", "unsubscribe", create_time=1700000100))
    [(task, events)] = await _churn_tasks(wx["app"])
    assert task.assignee_id is None and len(events) == 1 and events[0]["assignee"] is None
