"""WeChat push forgery and replay on a real server: the push window, a signed (timestamp,
nonce) reused with another body, and what the access log keeps of a push's query."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from app.config import Settings
from app.main import create_app
from app.models import Message
from app.workspace import create_channel
from channels.wechat import WeChatConfig
from sandbox.wechat.pushes import build_push, build_verification, message_xml
from tests.conftest import Factory
from tests.support.server import running

TOKEN = "push-token-1"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    app = create_app(settings, run_workers=False)
    async with running(app) as host, httpx.AsyncClient(base_url=f"http://{host}") as http:
        async with app.state.services.db.session() as session:
            # Plaintext mode (no EncodingAESKey): the signature does not cover the body.
            channel = await create_channel(
                session, "wechat", "公众号", {"app_id": "wxapp", "app_secret": "s", "token": TOKEN}
            )
        config = WeChatConfig(app_id="wxapp", app_secret="s", token=TOKEN)
        yield {
            "app": app,
            "http": http,
            "host": host,
            "url": f"/webhooks/wechat/{channel.id}",
            "config": config,
        }


async def stored(app: Any) -> list[str]:
    async with app.state.services.db.sessions() as s:
        return list(await s.scalars(select(Message.content).order_by(Message.id)))


async def test_a_signed_query_reused_with_another_body_is_refused(server: dict[str, Any]) -> None:
    http, url, config = server["http"], server["url"], server["config"]
    query, body = build_push(config, message_xml("oBuyer", Content="真的", msg_id=1))
    assert (await http.post(url, params=query, content=body)).text == "success"
    # WeChat retrying the same push: same query, same body, answered and stored once.
    assert (await http.post(url, params=query, content=body)).text == "success"
    _, forged = build_push(config, message_xml("oBuyer", Content="伪造", msg_id=2))
    r = await http.post(url, params=query, content=forged)
    assert r.status_code == 403 and "replayed" in r.text
    assert await stored(server["app"]) == ["真的"]


async def test_a_push_outside_the_window_is_refused(server: dict[str, Any]) -> None:
    http, url, config = server["http"], server["url"], server["config"]
    old = str(int(time.time()) - 6 * 60)
    query, body = build_push(config, message_xml("oBuyer", Content="旧", msg_id=3), timestamp=old)
    r = await http.post(url, params=query, content=body)
    assert r.status_code == 403
    assert await stored(server["app"]) == []


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_signatures_and_tokens_never_reach_the_access_log(server: dict[str, Any]) -> None:
    http, url, config = server["http"], server["url"], server["config"]
    loggers = [logging.getLogger(n) for n in ("uvicorn.access", "uvicorn.error")]
    collect, levels = Collect(), [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(collect)
        lg.setLevel(logging.INFO)
    try:
        query, body = build_push(
            config, message_xml("oBuyer", Content="日志", msg_id=4), nonce="8391027465"
        )
        assert (await http.post(url, params=query, content=body)).text == "success"
        check = build_verification(config, echostr="echo-secret-777")
        assert (await http.get(url, params=check)).status_code == 200
        agent = await Factory(server["app"]).user("agent")
        await http.get("/api/v1/conversations", params={"token": agent["token"]})
        url_ws = f"ws://{server['host']}/api/v1/events?token={agent['token']}"
        async with connect(url_ws):
            pass
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(collect)
            lg.setLevel(level)
    text = "\n".join(collect.lines)
    assert url in text and "signature=***" in text and "token=***" in text
    assert '"WebSocket /api/v1/events?token=***" [accepted]' in text
    secrets = [query["signature"], query["nonce"], query["timestamp"], check["signature"]]
    secrets += ["echo-secret-777", agent["token"]]
    for value in secrets:
        assert value not in text, value
