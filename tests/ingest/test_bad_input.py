"""Hostile shapes answer 400 and store nothing, on a real server: WeChat XML and Douyin JSON
nested thousands deep, a widget frame nested deep, an export time before year 1 in UTC."""

from __future__ import annotations

from typing import Any

import httpx

from channels.douyin.signature import sign as douyin_sign
from sandbox.wechat.pushes import build_push
from tests.ingest.test_douyin_app import dy, messages, post
from tests.ingest.test_push_security import server, stored
from tests.widget.conftest import Live, live
from tests.widget.support import Visitor, visitor_socket, webchat_channel

__all__ = ["dy", "live", "server"]  # fixtures


async def test_wechat_xml_nested_5000_deep_is_400(server: dict[str, Any]) -> None:
    http, url, config = server["http"], server["url"], server["config"]
    deep = "<xml>" + "<a>" * 5000 + "x" + "</a>" * 5000 + "</xml>"
    query, body = build_push(config, "<xml><FromUserName>o</FromUserName></xml>")
    r = await http.post(url, params=query, content=deep.encode())
    assert r.status_code == 400
    assert await stored(server["app"]) == []


async def test_douyin_json_nested_20000_deep_is_400(dy: dict[str, Any]) -> None:
    fake = dy["fake"]
    for body in (
        b'{"event":"im_receive_msg","content":' + b"[" * 20000 + b"]" * 20000 + b"}",
        b"[" * 20000 + b"]" * 20000,
        # Deep inside the `content` string (JSON in JSON).
        b'{"event":"im_receive_msg","content":"' + b"[" * 20000 + b"]" * 20000 + b'"}',
    ):
        headers = {"Content-Type": "application/json", "Msg-Id": "deep-1"}
        headers["X-Douyin-Signature"] = douyin_sign(fake.client_secret, body)
        r = await post(dy, headers, body)
        assert r.status_code == 400, r.text
    assert await messages(dy["app"]) == []


async def test_widget_frame_nested_deep_is_an_error_frame(live: Live) -> None:
    ch = await webchat_channel(live.app)
    async with visitor_socket(live.host, ch["id"]) as ws:
        v = Visitor(ws)
        await v.hello()
        await ws.send("[" * 15000 + "]" * 15000)
        assert (await v.until("error"))["type"] == "error"
        assert (await v.say("还在吗"))["type"] == "ack"  # the socket lives on


async def test_export_with_a_time_before_year_one_in_utc_is_400(
    client: httpx.AsyncClient, factory: Any
) -> None:
    admin = await factory.user("admin")
    for params in (
        {"since": "0001-01-01T00:00:00+14:00"},
        {"until": "9999-12-31T23:59:59-14:00"},
    ):
        for path in ("/api/v1/archive/export", "/api/v1/archive/conversations"):
            r = await client.get(path, params=params, headers=admin["headers"])
            assert r.status_code == 400 and "out of range" in r.json()["detail"], r.text
        r = await client.get(
            "/api/v1/search", params={**params, "q": "订单"}, headers=admin["headers"]
        )
        assert r.status_code == 400
