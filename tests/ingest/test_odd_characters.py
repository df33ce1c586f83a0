"""Characters a database cannot hold (lone surrogates, NUL) are replaced and recorded, on a
real server: a Douyin push and a widget frame are stored instead of failing every retry."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from app.inbox.storable import REPLACEMENT, clean_value
from app.models import Contact, Message
from channels.douyin.signature import sign
from tests.ingest.test_douyin_app import dy, messages, post
from tests.widget.conftest import Live, live
from tests.widget.support import Visitor, visitor_socket, webchat_channel

__all__ = ["dy", "live"]  # fixtures


def test_clean_value_counts_what_it_replaced() -> None:
    value = {"a\x00": ["x\ud800", ("\udfff", 1)], "ok": "好"}
    assert clean_value(value) == ({"a\ufffd": ["x\ufffd", ("\ufffd", 1)], "ok": "好"}, 3)


async def test_douyin_text_and_nickname_with_a_lone_surrogate_and_nul(dy: dict[str, Any]) -> None:
    fake = dy["fake"]
    headers, body = fake.customer_event(
        "im_receive_msg", "cust-odd", nickname="小NUL王", text="a<SURR>b<NUL>c"
    )
    # `content` is JSON inside a JSON string: its escapes are doubled in the body.
    body = body.replace(b"<SURR>", b"\\\\ud800").replace(b"<NUL>", b"\\\\u0000")
    body = body.replace(b"NUL", b"\\\\u0000")
    headers = {**headers, "X-Douyin-Signature": sign(fake.client_secret, body)}
    for _ in range(2):  # a platform retry is stored once, not refused
        r = await post(dy, headers, body)
        assert r.status_code == 200, r.text
    (stored,) = await messages(dy["app"])
    assert stored.content == f"a{REPLACEMENT}b{REPLACEMENT}c"
    assert stored.extra["replaced_characters"] == 3
    async with dy["app"].state.services.db.sessions() as s:
        assert await s.scalar(select(Contact.name)) == f"小{REPLACEMENT}王"


async def test_widget_frame_with_a_lone_surrogate_is_stored(live: Live) -> None:
    ch = await webchat_channel(live.app)
    async with visitor_socket(live.host, ch["id"]) as ws:
        v = Visitor(ws)
        await v.hello()
        # json.dumps escapes the lone surrogate as \ud800, as a browser's JSON.stringify does.
        frame = {"type": "message", "echo_id": "odd-surrogate-1", "text": "在吗\ud800？"}
        await ws.send(json.dumps(frame))
        ack = await v.until("ack", echo_id="odd-surrogate-1")
        assert ack["message"]["text"] == f"在吗{REPLACEMENT}？"
        # The visitor's outbox moves on: the next message is stored too.
        assert (await v.say("还在吗"))["type"] == "ack"
    async with live.app.state.services.db.sessions() as s:
        texts = list(await s.scalars(select(Message.content).order_by(Message.id)))
        first = await s.scalar(select(Message).order_by(Message.id))
    assert texts == [f"在吗{REPLACEMENT}？", "还在吗"]
    assert first is not None and first.extra["replaced_characters"] == 1
