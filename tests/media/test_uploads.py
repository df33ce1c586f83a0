"""Image replies: stored, queued, read back from storage and handed to the connector."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.delivery.worker import DeliveryWorker
from app.models import Message
from channels.base import Capabilities
from tests.conftest import push
from tests.support import loopback

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _conversation(client: Any, factory: Any) -> tuple[dict[str, Any], int]:
    ch = await factory.channel()
    agent = await factory.user("agent")
    await push(client, ch, {"id": "1", "from": "u1", "text": "发张图看看"})
    convs = (await client.get("/api/v1/conversations", headers=agent["headers"])).json()
    return agent, convs["items"][0]["id"]


async def test_image_reply_goes_to_the_connector(client: Any, factory: Any, app: Any) -> None:
    agent, conv_id = await _conversation(client, factory)
    r = await client.post(
        f"/api/v1/conversations/{conv_id}/attachments",
        files={"file": ("产品图.png", PNG, "image/png")},
        data={"caption": "这是实物图"},
        headers=agent["headers"],
    )
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["content_type"] == "image" and msg["delivery_status"] == "queued"
    (att,) = msg["attachments"]
    assert att["url"] == f"/api/v1/messages/{msg['id']}/attachments/0"
    assert "storage_key" in att and att["file_name"] == "产品图.png"
    got = await client.get(att["url"], headers=agent["headers"])
    assert got.status_code == 200 and got.content == PNG
    worker = DeliveryWorker(
        app.state.services.db,
        app.state.services.http,
        app.state.services.settings,
        storage=app.state.services.storage,
    )
    assert await worker.run_once() == 1
    (sent,) = loopback.PLATFORM.sent
    assert sent.content_type == "image" and sent.media[0].content == PNG
    assert sent.media[0].mime_type == "image/png"


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"<svg onload=alert(1)>", "only PNG, JPEG and GIF"),
        (b"\x89PNG\r\n\x1a\n" + b"0" * (2 * 1024 * 1024), "larger than"),
    ],
)
async def test_bad_uploads_store_nothing(
    client: Any, factory: Any, app: Any, content: bytes, detail: str
) -> None:
    agent, conv_id = await _conversation(client, factory)
    r = await client.post(
        f"/api/v1/conversations/{conv_id}/attachments",
        files={"file": ("x.png", content, "image/png")},
        headers=agent["headers"],
    )
    assert r.status_code == 400 and detail in r.json()["detail"]
    async with app.state.services.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == 1


async def test_channel_without_image_support_refuses(
    client: Any, factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent, conv_id = await _conversation(client, factory)
    monkeypatch.setattr(loopback.LoopbackConnector, "capabilities", Capabilities())
    r = await client.post(
        f"/api/v1/conversations/{conv_id}/attachments",
        files={"file": ("x.png", PNG, "image/png")},
        headers=agent["headers"],
    )
    assert r.status_code == 400 and "cannot send images" in r.json()["detail"]
    # a private note with an image is still fine: it never leaves Huiliu
    r = await client.post(
        f"/api/v1/conversations/{conv_id}/attachments",
        files={"file": ("x.png", PNG, "image/png")},
        data={"private": "true"},
        headers=agent["headers"],
    )
    assert r.status_code == 201 and r.json()["delivery_status"] is None
