"""send() of image replies: temporary-media upload, then msgtype image, via the fake."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from channels.base import (
    ChannelContext,
    Connector,
    ContentType,
    DeliveryError,
    MediaRef,
    OutboundMedia,
    OutboundMessage,
)
from channels.wechat import connector
from channels.wechat.media import MAX_IMAGE_UPLOAD_BYTES
from sandbox.wechat.fake import FakeWeChat
from tests.channels.wechat.test_wechat_send import FailingTransport
from tests.channels.wechat.wechat_support import OPENID, MakeCtx

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8
GIF = b"GIF89a" + bytes(range(256)) * 8


def image_reply(
    content: bytes = PNG,
    mime: str = "image/png",
    caption: str = "",
    media: tuple[OutboundMedia, ...] | None = None,
) -> OutboundMessage:
    item = OutboundMedia(ContentType.IMAGE, content, mime, "截图.png")
    return OutboundMessage(
        idempotency_key="img-1",
        recipient=OPENID,
        content_type=ContentType.IMAGE,
        text=caption,
        # What the delivery worker passes along: the stored attachment's metadata.
        attachments=({"kind": "image", "storage_key": "outbound/7/x", "mime_type": mime},),
        media=(item,) if media is None else media,
    )


def test_connector_declares_image_replies() -> None:
    supports: Connector = connector  # the protocol, checked statically
    assert supports.capabilities.media_replies == frozenset({ContentType.IMAGE})


async def test_image_is_uploaded_then_sent_by_media_id(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    result = await connector.send(ctx, image_reply())
    assert result.external_id is None
    [upload] = fake.uploads
    assert upload["errcode"] == 0
    assert (upload["type"], upload["file_name"], upload["content_type"]) == (
        "image",
        "image.png",
        "image/png",
    )
    assert upload["content"] == PNG
    assert fake.sent == [
        {"touser": OPENID, "msgtype": "image", "image": {"media_id": upload["media_id"]}}
    ]
    # Upload and send share one cached token.
    assert len(fake.token_requests) == 1
    assert upload["access_token"] == fake.attempts[0]["access_token"]


@pytest.mark.parametrize(
    ("content", "declared", "file_name", "mime"),
    [
        (JPEG, "image/jpeg", "image.jpg", "image/jpeg"),
        (GIF, "image/gif", "image.gif", "image/gif"),
        # The bytes decide, not the declared type.
        (JPEG, "image/png", "image.jpg", "image/jpeg"),
    ],
)
async def test_file_name_and_type_follow_the_bytes(
    fake: FakeWeChat,
    ctx: ChannelContext,
    content: bytes,
    declared: str,
    file_name: str,
    mime: str,
) -> None:
    await connector.send(ctx, image_reply(content, declared))
    assert (fake.uploads[0]["file_name"], fake.uploads[0]["content_type"]) == (file_name, mime)
    assert len(fake.sent) == 1


async def test_uploaded_image_can_be_fetched_back(fake: FakeWeChat, ctx: ChannelContext) -> None:
    await connector.send(ctx, image_reply(JPEG, "image/jpeg"))
    ref = MediaRef(ContentType.IMAGE, fake.uploads[0]["media_id"])
    got = await connector.fetch_media(ctx, ref)
    assert (got.content, got.mime_type) == (JPEG, "image/jpeg")


async def test_caption_follows_as_text(fake: FakeWeChat, ctx: ChannelContext) -> None:
    await connector.send(ctx, image_reply(caption="这是发票"))
    assert [m["msgtype"] for m in fake.sent] == ["image", "text"]
    assert fake.sent[1] == {"touser": OPENID, "msgtype": "text", "text": {"content": "这是发票"}}


async def test_failed_caption_after_the_image_is_permanent(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    fake.window_quota = 1
    fake.customer_wrote(OPENID)
    with pytest.raises(DeliveryError) as caught:
        await connector.send(ctx, image_reply(caption="说明"))
    # The image went out: a retry would send it twice, so the failure is not retryable.
    assert (caught.value.retryable, caught.value.uncertain) == (False, False)
    assert caught.value.reason.startswith("caption_not_sent:")
    assert "45047" in caught.value.reason
    assert [m["msgtype"] for m in fake.sent] == ["image"]


async def test_image_at_the_size_cap_is_sent(fake: FakeWeChat, ctx: ChannelContext) -> None:
    content = PNG + b"\0" * (MAX_IMAGE_UPLOAD_BYTES - len(PNG))
    await connector.send(ctx, image_reply(content))
    assert fake.uploads[0]["size"] == MAX_IMAGE_UPLOAD_BYTES
    assert len(fake.sent) == 1


async def test_image_over_the_size_cap_is_refused_before_any_call(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    content = PNG + b"\0" * (MAX_IMAGE_UPLOAD_BYTES + 1 - len(PNG))
    with pytest.raises(DeliveryError) as caught:
        await connector.send(ctx, image_reply(content))
    assert caught.value.retryable is False
    assert caught.value.reason.startswith("too_large:")
    assert "2 MB" in caught.value.reason
    assert fake.uploads == [] and fake.token_requests == [] and fake.attempts == []


@pytest.mark.parametrize(
    ("content", "mime"),
    [
        (b"%PDF-1.7\n" + b"\0" * 64, "application/pdf"),
        (b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 64, "image/webp"),
        (b"", "image/png"),
    ],
)
async def test_other_file_types_are_refused_before_any_call(
    fake: FakeWeChat, ctx: ChannelContext, content: bytes, mime: str
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await connector.send(ctx, image_reply(content, mime))
    assert caught.value.retryable is False
    assert caught.value.reason.startswith("unsupported_media:")
    assert "PNG" in caught.value.reason
    assert fake.uploads == [] and fake.token_requests == []


@pytest.mark.parametrize("count", [0, 2])
async def test_an_image_reply_carries_exactly_one_image(
    fake: FakeWeChat, ctx: ChannelContext, count: int
) -> None:
    item = OutboundMedia(ContentType.IMAGE, PNG, "image/png")
    with pytest.raises(DeliveryError, match="unsupported_type") as caught:
        await connector.send(ctx, image_reply(media=(item,) * count))
    assert caught.value.retryable is False
    assert fake.uploads == []


async def test_text_reply_carrying_a_file_is_refused(fake: FakeWeChat, ctx: ChannelContext) -> None:
    message = OutboundMessage(
        idempotency_key="k",
        recipient=OPENID,
        content_type=ContentType.TEXT,
        text="see file",
        media=(OutboundMedia(ContentType.IMAGE, PNG, "image/png"),),
    )
    with pytest.raises(DeliveryError, match="unsupported_type"):
        await connector.send(ctx, message)
    assert fake.uploads == [] and fake.attempts == []


async def test_rejected_token_on_upload_refreshes_once(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    await connector.send(ctx, image_reply())
    fake.invalidate_tokens()
    await connector.send(ctx, image_reply())
    assert [u["errcode"] for u in fake.uploads] == [0, 40001, 0]
    assert len(fake.token_requests) == 2
    assert len(fake.sent) == 2
    assert fake.uploads[2]["access_token"] == fake.attempts[-1]["access_token"]


async def test_invalid_media_id_reuploads_once(fake: FakeWeChat, ctx: ChannelContext) -> None:
    fake.fail_next_sends(40007)
    await connector.send(ctx, image_reply())
    first, second = (u["media_id"] for u in fake.uploads)
    assert first != second
    assert fake.sent == [{"touser": OPENID, "msgtype": "image", "image": {"media_id": second}}]


async def test_invalid_media_id_twice_fails(fake: FakeWeChat, ctx: ChannelContext) -> None:
    fake.fail_next_sends(40007, count=2)
    with pytest.raises(DeliveryError) as caught:
        await connector.send(ctx, image_reply())
    assert caught.value.reason.startswith("invalid_media:")
    assert caught.value.retryable is False
    assert len(fake.uploads) == 2 and len(fake.attempts) == 2
    assert fake.sent == []


async def test_window_closed_after_upload_is_permanent(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    fake.customer_wrote(OPENID, at=fake.now() - timedelta(hours=49))
    with pytest.raises(DeliveryError) as caught:
        await connector.send(ctx, image_reply())
    assert caught.value.reason.startswith("window_expired:")
    assert caught.value.retryable is False
    assert fake.sent == []


async def test_lost_upload_answer_is_retryable_not_uncertain(
    fake: FakeWeChat, make_ctx: MakeCtx
) -> None:
    transport = FailingTransport(fake, "/cgi-bin/media/upload", httpx.ReadTimeout)
    with pytest.raises(DeliveryError) as caught:
        await connector.send(make_ctx(transport=transport), image_reply())
    # Nothing reached the customer yet: a retry is safe.
    assert (caught.value.retryable, caught.value.uncertain) == (True, False)
    assert fake.attempts == []


@pytest.mark.parametrize(
    ("answer", "word"),
    [
        ({"errcode": 40009, "errmsg": "invalid image size"}, "too_large"),
        ({"errcode": 40005, "errmsg": "invalid file type"}, "unsupported_media"),
        ({"errcode": -1, "errmsg": "system error"}, "system_busy"),
        ({"type": "image", "created_at": 1}, "bad_response"),
    ],
)
async def test_upload_refusals_are_readable(
    make_ctx: MakeCtx, answer: dict[str, object], word: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/stable_token":
            return httpx.Response(200, json={"access_token": "T", "expires_in": 7200})
        assert request.url.path == "/cgi-bin/media/upload"
        return httpx.Response(200, json=answer)

    ctx = make_ctx(transport=httpx.MockTransport(handler))
    with pytest.raises(DeliveryError) as caught:
        await connector.send(ctx, image_reply())
    assert caught.value.reason.startswith(f"{word}:")
