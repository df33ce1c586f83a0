"""Files (PDF, Office) as agent replies where the platform takes them: the website chat
(issue 21, item 10). WeChat's and Douyin's reply APIs take no documents: refused
clearly, and the composer says so."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.delivery.worker import DeliveryWorker
from app.models import Message
from tests.conftest import push
from tests.widget.support import webchat_channel

PDF = b"%PDF-1.7\n" + b"0" * 64
DOCX = b"PK\x03\x04" + b"0" * 64


async def _webchat_conversation(client: Any, factory: Any, app: Any) -> tuple[Any, int]:
    from app.widget import visitors  # noqa: F401  (the module that stores visitor messages)

    ch = await webchat_channel(app)
    agent = await factory.user("agent")
    # A visitor's first message, stored as the widget stores it.
    from app.inbox.actions.inbound import record_inbound_message
    from app.models import Channel
    from channels.base import ContentType, InboundContact, InboundMessage

    async with app.state.services.db.session() as session:
        channel = await session.get(Channel, ch["id"])
        assert channel is not None
        await record_inbound_message(
            session,
            channel,
            InboundMessage(
                "v1", InboundContact("visitor-1", "访客"), ContentType.TEXT, "报价单发我"
            ),
        )
    convs = (await client.get("/api/v1/conversations", headers=agent["headers"])).json()
    return agent, convs["items"][0]["id"]


async def test_a_pdf_goes_to_the_website_chat(client: Any, factory: Any, app: Any) -> None:
    agent, conv_id = await _webchat_conversation(client, factory, app)
    r = await client.post(
        f"/api/v1/conversations/{conv_id}/attachments",
        files={"file": ("报价单.pdf", PDF, "application/pdf")},
        headers=agent["headers"],
    )
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["content_type"] == "file" and msg["delivery_status"] == "queued"
    (att,) = msg["attachments"]
    assert att["kind"] == "file" and att["mime_type"] == "application/pdf"
    got = await client.get(att["url"], headers=agent["headers"])
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-disposition"].startswith("attachment")
    worker = DeliveryWorker(
        app.state.services.db,
        app.state.services.http,
        app.state.services.settings,
        storage=app.state.services.storage,
    )
    await worker.run_once()
    async with app.state.services.db.sessions() as session:
        stored = await session.get(Message, msg["id"])
        assert stored is not None and stored.delivery_status == "sent", stored.error
    r = await client.post(
        f"/api/v1/conversations/{conv_id}/attachments",
        files={"file": ("方案.docx", DOCX, "application/octet-stream")},
        headers=agent["headers"],
    )
    assert r.status_code == 201 and r.json()["attachments"][0]["mime_type"].endswith(
        "wordprocessingml.document"
    )


@pytest.mark.parametrize(
    ("name", "content", "detail"),
    [
        ("page.html", b"<html><script>alert(1)</script>", "PDF and Office"),
        ("evil.docx", b"MZ\x90\x00", "PDF and Office"),
        ("archive.zip", DOCX, "PDF and Office"),  # a zip that is not an Office file
        ("big.pdf", b"%PDF-" + b"0" * (3 * 1024 * 1024), "larger than"),
    ],
)
async def test_bad_files_store_nothing(
    client: Any, factory: Any, app: Any, name: str, content: bytes, detail: str
) -> None:
    agent, conv_id = await _webchat_conversation(client, factory, app)
    r = await client.post(
        f"/api/v1/conversations/{conv_id}/attachments",
        files={"file": (name, content, "application/pdf")},
        headers=agent["headers"],
    )
    assert r.status_code == 400 and detail in r.json()["detail"]
    async with app.state.services.db.sessions() as session:
        assert await session.scalar(select(func.count(Message.id))) == 1


async def test_a_channel_without_files_refuses_them_but_notes_keep_them(
    client: Any, factory: Any
) -> None:
    ch = await factory.channel()  # the test platform takes text and images only
    agent = await factory.user("agent")
    await push(client, ch, {"id": "1", "from": "u1", "text": "发个合同"})
    conv = (await client.get("/api/v1/conversations", headers=agent["headers"])).json()
    conv_id = conv["items"][0]["id"]
    path = f"/api/v1/conversations/{conv_id}/attachments"
    files = {"file": ("合同.pdf", PDF, "application/pdf")}
    r = await client.post(path, files=files, headers=agent["headers"])
    assert r.status_code == 400 and "cannot send files" in r.json()["detail"]
    r = await client.post(path, files=files, data={"private": "true"}, headers=agent["headers"])
    assert r.status_code == 201 and r.json()["private"] is True
