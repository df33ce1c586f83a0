"""Every sample of the shared WeChat corpus through the webhook, plain and safe mode."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.models import AuditLog, Message
from channels.wechat import WeChatConfig
from sandbox.wechat.pushes import build_push
from tests.channels.wechat.corpus_support import samples

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLES = samples()
OPTIONS = {"app_id": "wxCORPUS0001", "app_secret": "s", "token": "corpus", "aes_key": AES_KEY}


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "safe"])
async def test_every_sample_is_acknowledged_and_stored_as_the_contract_shows(
    app: Any, client: Any, encrypt: bool
) -> None:
    from app.workspace import create_channel

    # The samples are addressed to many accounts; the AppID only matters for decryption.
    # Plain mode is a channel without an EncodingAESKey: with one, plaintext is refused.
    options = OPTIONS if encrypt else {k: v for k, v in OPTIONS.items() if k != "aes_key"}
    config = WeChatConfig.model_validate(options)
    for sample in SAMPLES:
        # One channel per sample: the SDKs' samples reuse MsgIds, which one channel would
        # rightly store once.
        async with app.state.services.db.session() as session:
            channel = await create_channel(session, "wechat", sample["id"][:90], dict(options))
        query, body = build_push(config, sample["xml"].encode("utf-8"), encrypt=encrypt)
        url = f"/webhooks/wechat/{channel.id}"
        for _ in range(2):  # WeChat retries: the second copy stores nothing more
            r = await client.post(url, params=query, content=body)
            assert (r.status_code, r.text) == (200, "success"), sample["id"]
        async with app.state.services.db.sessions() as s:
            stored = list(await s.scalars(select(Message).where(Message.channel_id == channel.id)))
            notices = list(
                await s.scalars(
                    select(AuditLog).where(
                        AuditLog.action == "channel.platform_notice",
                        AuditLog.object_id == str(channel.id),
                    )
                )
            )
        expected = sample["content_type"]
        if expected is None:
            assert [m.content_type for m in stored] == ["unsupported"], sample["id"]
        elif notices:
            # An account notification: in the channel's log (once), not in a chat.
            assert expected == "event" and not sample["required"] and stored == []
            assert notices[0].details["event"].lower() == sample["event"].lower()
        else:
            assert [m.content_type for m in stored] == [expected], sample["id"]
            if expected == "event":
                assert stored[0].content.strip() and "暂不支持" not in stored[0].content
                assert stored[0].extra["event"].lower() == sample["event"].lower()
        assert len(notices) <= 1
