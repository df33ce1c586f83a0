"""The widget's HTTP side: the script (size, settings, allow-list), image uploads and their
signed links, the demo host page, and `huiliu channel create webchat`."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.models import EventLog, Message
from app.widget.script import MAX_SCRIPT_BYTES
from channels.webchat.tokens import VisitorToken, issue_token
from tests.conftest import Factory
from tests.widget.support import webchat_channel

ROOT = Path(__file__).resolve().parents[2]


def png(size: int = 0) -> bytes:
    """A real 1x1 PNG, padded with a trailing chunk to `size` bytes when asked."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    raw += chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
    return raw + b"\x00" * max(0, size - len(raw))


def visitor_token(app: Any, channel_id: int, visitor_id: str = "visitor-id-0123456789") -> str:
    key = app.state.services.widget.token_key(channel_id)
    return issue_token(key, VisitorToken(channel_id, visitor_id, None, int(time.time())))


async def test_script_is_small_self_contained_and_carries_no_secret(
    app: Any, client: httpx.AsyncClient
) -> None:
    ch = await webchat_channel(
        app, "汇流小店", greeting="欢迎光临</script><script>alert(1)</script>"
    )
    r = await client.get(f"/widget/{ch['id']}.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert len(r.content) < MAX_SCRIPT_BYTES, len(r.content)
    assert ch["secret"] not in r.text
    preamble = r.text.index("})({") + len("})(")
    settings, _ = json.JSONDecoder().raw_decode(r.text, preamble)
    assert settings["channel"] == ch["id"] and settings["title"] == "汇流小店"
    assert settings["base"] == "http://testserver"
    # The widget's words come from the catalog (app/i18n), in both languages.
    assert settings["texts"]["zh"]["send"] == "发送" and settings["texts"]["en"]["send"] == "Send"
    assert "</script>" not in r.text.split("(function (CONFIG, CSS)")[0]
    # Revalidation: an unchanged script is a 304.
    again = await client.get(f"/widget/{ch['id']}.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    # Only webchat channels have a widget.
    other = await Factory(app).channel()
    assert (await client.get(f"/widget/{other['id']}.js")).status_code == 404
    assert (await client.get("/widget/999.js")).status_code == 404


async def test_script_honours_the_origin_allow_list(app: Any, client: httpx.AsyncClient) -> None:
    ch = await webchat_channel(
        app, allowed_origin=["https://shop.example.com", "https://*.shop.cn"]
    )
    url = f"/widget/{ch['id']}.js"
    ok = ["https://shop.example.com/cart?x=1", "https://m.shop.cn/", "http://testserver/demo"]
    for referer in ok:
        assert (await client.get(url, headers={"Referer": referer})).status_code == 200, referer
    for referer in ("https://evil.example.net/", "http://shop.example.com/", "https://shop.cn/"):
        r = await client.get(url, headers={"Referer": referer})
        assert r.status_code == 403, referer
        assert r.headers["cache-control"] == "no-store"
    assert (
        await client.get(url, headers={"Origin": "https://evil.example.net"})
    ).status_code == 403
    # Nothing to judge (a privacy-minded browser): served; the socket checks again.
    assert (await client.get(url)).status_code == 200


async def test_image_upload_limits_and_signed_links(app: Any, client: httpx.AsyncClient) -> None:
    ch = await webchat_channel(app, allowed_origin=["https://shop.example.com"])
    token = visitor_token(app, ch["id"])
    url = f"/widget/{ch['id']}/upload"
    origin = {"Origin": "https://shop.example.com"}

    def form(echo: str, content: bytes, name: str = "a.png") -> dict[str, Any]:
        return {
            "data": {"token": token, "echo_id": echo, "caption": "看这个"},
            "files": {"file": (name, content, "image/png")},
            "headers": origin,
        }

    r = await client.post(url, **form("upload-0001", png()))
    assert r.status_code == 201, r.text
    assert r.headers["access-control-allow-origin"] == "https://shop.example.com"
    shown = r.json()["message"]
    assert shown["content_type"] == "image" and shown["text"] == "看这个"
    link = shown["attachments"][0]["url"]
    assert link.startswith(f"/widget/{ch['id']}/media/{shown['id']}/0?")
    # The visitor's link serves the image, inert; a forged or altered one does not.
    img = await client.get(link)
    assert img.status_code == 200 and img.content == png()
    assert img.headers["content-type"] == "image/png"
    assert "sandbox" in img.headers["content-security-policy"]
    assert (await client.get(link[:-3] + "abc")).status_code == 403
    assert (await client.get(link.replace("/0?", "/1?"))).status_code == 403
    # The agent sees it through the API like any stored attachment.
    agent = await Factory(app).user("agent")
    messages = await client.get(
        f"/api/v1/conversations/{shown['conversation_id']}/messages", headers=agent["headers"]
    )
    att = messages.json()["items"][0]["attachments"][0]
    assert (
        att["status"] == "ready" and att["url"] == f"/api/v1/messages/{shown['id']}/attachments/0"
    )
    staff_copy = await client.get(att["url"], headers=agent["headers"])
    assert staff_copy.content == png()
    # One event describes the message with its file (never an image without one).
    async with app.state.services.db.sessions() as session:
        events = (await session.scalars(select(EventLog).order_by(EventLog.seq))).all()
    assert [e.type for e in events] == ["message.created", "conversation.created"]
    assert events[0].data["attachments"][0]["url"] == att["url"]

    # A retried upload is the same message; limits refuse before storing anything.
    again = await client.post(url, **form("upload-0001", png()))
    assert again.status_code == 200 and again.json()["message"]["id"] == shown["id"]
    assert (
        await client.post(url, **form("upload-0002", png(2 * 1024 * 1024 + 1)))
    ).status_code == 413
    assert (
        await client.post(url, **form("upload-0003", b"<svg onload=alert(1)>"))
    ).status_code == 415
    bad = form("upload-0004", png())
    bad["data"]["token"] = token[:-4] + "AAAA"
    assert (await client.post(url, **bad)).status_code == 401
    evil = form("upload-0005", png())
    evil["headers"] = {"Origin": "https://evil.example.net"}
    assert (await client.post(url, **evil)).status_code == 403
    async with app.state.services.db.sessions() as session:
        rows = (await session.scalars(select(Message))).all()
    assert len(rows) == 1


async def test_upload_flood_answers_429(app: Any, client: httpx.AsyncClient) -> None:
    from app.widget.ratelimit import Rate
    from app.widget.service import Limits

    app.state.services.widget.set_limits(Limits(message_per_visitor=Rate(burst=1, per_second=0.01)))
    ch = await webchat_channel(app)
    token = visitor_token(app, ch["id"])
    url = f"/widget/{ch['id']}/upload"
    files = {"file": ("a.png", png(), "image/png")}
    first = await client.post(url, data={"token": token, "echo_id": "flood-0001"}, files=files)
    assert first.status_code == 201
    r = await client.post(url, data={"token": token, "echo_id": "flood-0002"}, files=files)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # The accepted one, retried, is still answered.
    r = await client.post(url, data={"token": token, "echo_id": "flood-0001"}, files=files)
    assert r.status_code == 200


async def test_demo_host_page(app: Any, client: httpx.AsyncClient) -> None:
    assert (await client.get("/widget-demo")).status_code == 404  # not in demo mode
    ch = await webchat_channel(app)
    r = await client.get("/widget-demo")
    assert r.status_code == 303 and r.headers["location"] == f"/widget-demo/{ch['id']}"
    page = await client.get(f"/widget-demo/{ch['id']}")
    assert page.status_code == 200
    assert f'<script src="/widget/{ch["id"]}.js" async></script>' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


@pytest.mark.slow
def test_cli_prints_the_snippet_and_the_identity_secret(db_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HUILIU_DATABASE_URL": db_url,
        "HUILIU_PUBLIC_URL": "https://huiliu.example.com",
        "HUILIU_SECRET_KEY": "cli-test-secret-key-0123456789abcdef",
        "PYTHONPATH": str(ROOT),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    r = run(
        "channel",
        "create",
        "webchat",
        "--name",
        "官网",
        "--allowed-origin",
        "https://shop.example.com",
        "--allowed-origin",
        "https://*.example.cn",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["type"] == "webchat"
    assert out["embed_snippet"] == (
        f'<script src="https://huiliu.example.com/widget/{out["id"]}.js" async></script>'
    )
    assert re.fullmatch(r"[0-9a-f]{64}", out["identity_secret"])
    assert out["allowed_origins"] == ["https://shop.example.com", "https://*.example.cn"]
    bad = run("channel", "create", "webchat", "--name", "x", "--allowed-origin", "shop.example.com")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1
    assert "--allowed-origin" in bad.stderr
