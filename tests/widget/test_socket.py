"""WS /widget/{id}/ws: tokens, messages stored once, replies streamed and replayed,
identity across devices, origin and flood limits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.models import Contact, ContactIdentity, Message
from app.widget.ratelimit import Rate
from app.widget.service import Limits
from tests.widget.conftest import Live
from tests.widget.support import Visitor, echo, sign, visitor_socket, webchat_channel


async def count_messages(live: Live) -> int:
    async with live.app.state.services.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


async def agent_events(live: Live, token: str) -> Any:
    return connect(f"ws://{live.host}/api/v1/events?token={token}")


async def next_event(ws: Any, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if event["type"] == kind:
            return event


async def test_a_visitor_writes_and_the_agent_answers_live(live: Live) -> None:
    ch = await webchat_channel(live.app)
    agent = await live.factory.user("agent", name="客服 李娜")
    async with await agent_events(live, agent["token"]) as events:
        async with visitor_socket(live.host, ch["id"]) as ws:
            v = Visitor(ws)
            assert await v.hello() == []  # first contact: a token, no history
            assert v.token and v.token.startswith("v1.")
            ack = await v.say("你好，<b>在吗</b>？", echo_id="first-message-1")
            assert ack["type"] == "ack"
            shown = ack["message"]
            assert shown["text"] == "你好，<b>在吗</b>？" and shown["from"] == "visitor"
            assert shown["echo_id"] == "first-message-1"
            # The agent's stream carries it, as for any channel.
            created = await next_event(events, "message.created")
            assert created["data"]["content"] == "你好，<b>在吗</b>？"
            conv_id = created["data"]["conversation_id"]

            # A resend after a lost ack is stored once.
            again = await v.say("你好，<b>在吗</b>？", echo_id="first-message-1")
            assert again["message"]["id"] == shown["id"]
            assert await count_messages(live) == 1

            # The agent replies; a private note never reaches the visitor.
            r = await live.http.post(
                f"/api/v1/conversations/{conv_id}/messages",
                json={"content": "内部备注", "private": True},
                headers=agent["headers"],
            )
            assert r.status_code == 201
            r = await live.http.post(
                f"/api/v1/conversations/{conv_id}/messages",
                json={"content": "您好，在的！"},
                headers=agent["headers"],
            )
            assert r.status_code == 201, r.text
            frame = await v.until("message")
            while frame["message"]["from"] != "agent":
                frame = await v.until("message")
            assert frame["message"]["text"] == "您好，在的！"
            assert frame["message"]["name"] == "客服 李娜"
            assert "sender" not in frame["message"] and "error" not in frame["message"]
            # The reply counts as read: the visitor is told.
            read = await v.until("read")
            assert read["up_to"] == shown["id"]
            assert all("内部备注" not in json.dumps(f, ensure_ascii=False) for f in v.frames)

    # The API lists it under a webchat conversation; the delivery worker marks it sent.
    r = await live.http.get(f"/api/v1/conversations/{conv_id}", headers=agent["headers"])
    assert r.json()["channel"]["type"] == "webchat"
    for _ in range(100):
        r = await live.http.get(
            f"/api/v1/conversations/{conv_id}/messages", headers=agent["headers"]
        )
        statuses = {m["content"]: m["delivery_status"] for m in r.json()["items"]}
        if statuses["您好，在的！"] == "sent":
            break
        await asyncio.sleep(0.05)
    assert statuses["您好，在的！"] == "sent"


async def test_a_returning_visitor_catches_up_on_what_they_missed(live: Live) -> None:
    ch = await webchat_channel(live.app)
    agent = await live.factory.user("agent")
    async with visitor_socket(live.host, ch["id"]) as ws:
        v = Visitor(ws)
        await v.hello()
        first = (await v.say("我的订单呢"))["message"]
        token = v.token
    conv = first["conversation_id"]
    for text in ("正在查", "已发货"):
        r = await live.http.post(
            f"/api/v1/conversations/{conv}/messages",
            json={"content": text},
            headers=agent["headers"],
        )
        assert r.status_code == 201
    # Same token, last seen message: what came after (plus the last few seconds, in case a
    # lower id committed late: the widget keeps messages by id), then live.
    async with visitor_socket(live.host, ch["id"]) as ws:
        v = Visitor(ws)
        replayed = await v.hello(token=token, last=first["id"])
        assert [m["text"] for m in replayed if m["id"] > first["id"]] == ["正在查", "已发货"]
    # A reload (nothing in memory): the whole history; a bad token is a new visitor.
    async with visitor_socket(live.host, ch["id"]) as ws:
        v = Visitor(ws)
        replayed = await v.hello(token=token)
        assert [m["text"] for m in replayed] == ["我的订单呢", "正在查", "已发货"]
    async with visitor_socket(live.host, ch["id"]) as ws:
        v = Visitor(ws)
        assert await v.hello(token=token[:-2] + "xx") == []
        assert v.token != token


async def test_refusals_close_with_a_reason(live: Live) -> None:
    ch = await webchat_channel(live.app, allowed_origin=["https://shop.example.com"])
    async with visitor_socket(live.host, ch["id"], origin="https://evil.example.net") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    async with visitor_socket(live.host, 999) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
    async with visitor_socket(live.host, ch["id"]) as ws:
        await ws.send(json.dumps({"type": "message", "echo_id": echo(), "text": "hi"}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    # Allowed origin, bad frames: an error frame each, the connection stays.
    async with visitor_socket(live.host, ch["id"]) as ws:
        v = Visitor(ws)
        await v.hello()
        assert (await v.say("x" * 4001))["code"] == 413
        await v.send(type="message", echo_id="short", text="hi")
        assert (await v.until("error"))["code"] == 400
        assert (await v.say("  \n "))["code"] == 400
        assert (await v.say("ok"))["type"] == "ack"
    assert await count_messages(live) == 1


@pytest.mark.slow
async def test_flood_gets_429_and_keeps_every_accepted_message(live: Live) -> None:
    live.app.state.services.widget.set_limits(
        Limits(message_per_visitor=Rate(burst=3, per_second=2.0))
    )
    ch = await webchat_channel(live.app)
    async with visitor_socket(live.host, ch["id"]) as ws:
        v = Visitor(ws)
        await v.hello()
        ids = [echo() for _ in range(6)]
        for i, e in enumerate(ids):  # pipelined, faster than allowed
            await v.send(type="message", echo_id=e, text=f"第{i}条")
        answers = {}
        while len(answers) < 6:
            frame = await v.recv()
            if frame["type"] in ("ack", "error"):
                answers[frame["echo_id"]] = frame
        accepted = [e for e in ids if answers[e]["type"] == "ack"]
        refused = [e for e in ids if answers[e]["type"] == "error"]
        # A burst of 3; a slow machine may refill one token while the six are handled.
        assert 3 <= len(accepted) <= 4 and all(answers[e]["code"] == 429 for e in refused)
        assert all(answers[e]["retry_after"] >= 1 for e in refused)
        assert await count_messages(live) == len(accepted)
        # The widget resends what was refused after the wait it was told; all arrive.
        for e in refused:
            answer = answers[e]
            while answer["type"] == "error":
                await asyncio.sleep(answer["retry_after"])
                answer = await v.say(f"重发 {e}", echo_id=e)
        for e in accepted:  # a resend of an accepted one is a no-op
            assert (await v.say("dup", echo_id=e))["type"] == "ack"
    assert await count_messages(live) == 6


async def test_connection_floods_from_one_address_are_refused(live: Live) -> None:
    live.app.state.services.widget.set_limits(Limits(connect_per_ip=Rate(burst=2, per_second=0.01)))
    ch = await webchat_channel(live.app)
    for _ in range(2):
        async with visitor_socket(live.host, ch["id"]) as ws:
            await Visitor(ws).hello()
    async with visitor_socket(live.host, ch["id"]) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429


async def contacts_of(live: Live) -> list[tuple[int, str]]:
    async with live.app.state.services.db.sessions() as session:
        rows = await session.execute(
            select(ContactIdentity.contact_id, ContactIdentity.external_id).order_by(
                ContactIdentity.id
            )
        )
        return [(r[0], r[1]) for r in rows]


async def test_verified_identity_is_one_contact_on_every_device(live: Live) -> None:
    ch = await webchat_channel(live.app)
    # Device A chats anonymously, then the site logs the user in: the chat follows them.
    async with visitor_socket(live.host, ch["id"]) as ws:
        a = Visitor(ws)
        await a.hello()
        await a.say("登录前的问题")
        await a.send(
            type="identify",
            id="user-42",
            hmac=sign("user-42"),
            name="王小明",
            email="wang@example.com",
        )
        identified = await a.until("identified")
        assert identified["verified"] is True and identified["reset"] is True
        replay = await a.until("ready")
        assert replay
        assert [f["message"]["text"] for f in a.frames if f["type"] == "message"][-1] == (
            "登录前的问题"
        )
        await a.say("来自电脑")
    # Device B identifies in its hello: the same contact, the same history.
    async with visitor_socket(live.host, ch["id"]) as ws:
        b = Visitor(ws)
        history = await b.hello(identify={"id": "user-42", "hmac": sign("user-42")})
        assert [m["text"] for m in history] == ["登录前的问题", "来自电脑"]
        await b.say("来自手机")
    # Device C claims the same id without a valid HMAC: ignored, a contact of its own.
    async with visitor_socket(live.host, ch["id"]) as ws:
        c = Visitor(ws)
        history = await c.hello(identify={"id": "user-42", "hmac": sign("user-43")})
        assert history == []
        await c.say("我是冒充的")
    rows = await contacts_of(live)
    assert rows[0][1] == "user:user-42"
    assert rows[1][1].startswith("visitor:") and rows[1][0] != rows[0][0]
    async with live.app.state.services.db.sessions() as session:
        contact = await session.get(Contact, rows[0][0])
        assert contact is not None
        assert (contact.name, contact.email) == ("王小明", "wang@example.com")
        convs = await session.scalar(
            select(func.count(func.distinct(Message.conversation_id))).where(
                Message.content.in_(["登录前的问题", "来自电脑", "来自手机"])
            )
        )
        assert convs == 1


async def test_two_devices_see_each_others_messages_live(live: Live) -> None:
    ch = await webchat_channel(live.app)
    ident = {"id": "u-7", "hmac": sign("u-7")}
    async with visitor_socket(live.host, ch["id"]) as w1, visitor_socket(live.host, ch["id"]) as w2:
        a, b = Visitor(w1), Visitor(w2)
        await a.hello(identify=ident)
        await b.hello(identify=ident)
        await a.say("第一条消息开启会话")  # b learns of the new conversation and shows it
        frame = await b.until("message")
        assert frame["message"]["text"] == "第一条消息开启会话"
        await b.say("从另一台设备")
        frame = await a.until("message")
        while frame["message"]["text"] != "从另一台设备":
            frame = await a.until("message")


async def test_prechat_profile_fills_the_contact(live: Live) -> None:
    ch = await webchat_channel(live.app, prechat_field=["name!", "email"])
    async with visitor_socket(live.host, ch["id"]) as ws:
        v = Visitor(ws)
        await v.hello(profile={"name": "陈静", "email": "chen@example.com"})
        await v.say("想咨询发票")
        assert {"type": "prechat", "saved": True} in v.frames  # saved with the first message
        await v.send(type="prechat", fields={"email": "not-an-email"})
        assert (await v.until("error"))["code"] == 400
    async with live.app.state.services.db.sessions() as session:
        contact = await session.scalar(select(Contact))
        assert contact is not None
        assert (contact.name, contact.email) == ("陈静", "chen@example.com")


async def test_typing_goes_both_ways(live: Live) -> None:
    ch = await webchat_channel(live.app)
    agent = await live.factory.user("agent")
    async with await agent_events(live, agent["token"]) as events:
        async with visitor_socket(live.host, ch["id"]) as ws:
            v = Visitor(ws)
            await v.hello()
            conv = (await v.say("在吗"))["message"]["conversation_id"]
            await v.send(type="typing", typing=True)
            typing = await next_event(events, "visitor.typing")
            assert typing["data"] == {"conversation_id": conv, "typing": True}
            live.app.state.services.widget.agent_typing(conv, "客服 李娜")
            frame = await v.until("typing")
            assert frame == {"type": "typing", "typing": True, "name": "客服 李娜"}


async def test_history_spans_conversations_and_names_the_agent(live: Live) -> None:
    ch = await webchat_channel(live.app)
    agent = await live.factory.user("agent", name="客服 张伟")
    async with visitor_socket(live.host, ch["id"]) as ws:
        v = Visitor(ws)
        await v.hello()
        first = (await v.say("第一次咨询"))["message"]
        conv = first["conversation_id"]
        r = await live.http.post(
            f"/api/v1/conversations/{conv}/assignment",
            json={"assignee_id": agent["id"]},
            headers=agent["headers"],
        )
        assert r.status_code == 200
        assert await v.until("agent") == {"type": "agent", "name": "客服 张伟", "avatar_url": None}
        r = await live.http.post(
            f"/api/v1/conversations/{conv}/status",
            json={"status": "resolved"},
            headers=agent["headers"],
        )
        assert r.status_code == 200
        # Writing again opens a new conversation; its replies still reach this socket.
        second = (await v.say("又有问题了"))["message"]
        assert second["conversation_id"] != conv
        url = f"/api/v1/conversations/{second['conversation_id']}/messages"
        r = await live.http.post(url, json={"content": "请讲"}, headers=agent["headers"])
        assert r.status_code == 201
        reply = await v.until("message")
        while reply["message"]["from"] != "agent":
            reply = await v.until("message")
        assert reply["message"]["text"] == "请讲"
        token = v.token
    async with visitor_socket(live.host, ch["id"]) as ws:
        history = await Visitor(ws).hello(token=token)
    assert [m["text"] for m in history] == ["第一次咨询", "又有问题了", "请讲"]
