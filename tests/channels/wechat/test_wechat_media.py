"""fetch_media(): media/get through the fake, video links, URLs, expiry and size cap."""

from __future__ import annotations

import pytest

from channels.base import ChannelContext, ContentType, DeliveryError, MediaRef
from channels.netguard import MediaRefused
from channels.wechat import connector
from channels.wechat.media import MAX_MEDIA_BYTES
from sandbox.wechat.fake import FakeWeChat
from tests.channels.wechat.wechat_support import API_BASE

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40


async def test_image_by_media_id(fake: FakeWeChat, ctx: ChannelContext) -> None:
    fake.add_media("img-1", JPEG, "image/jpeg", file_name="photo.jpg")
    got = await connector.fetch_media(ctx, MediaRef(ContentType.IMAGE, "img-1"))
    assert (got.content, got.mime_type, got.file_name) == (JPEG, "image/jpeg", "photo.jpg")
    assert len(fake.token_requests) == 1


async def test_voice_keeps_the_ref_mime_when_no_file_name(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    fake.add_media("v-1", b"#!AMR\n...", "audio/amr")
    got = await connector.fetch_media(ctx, MediaRef(ContentType.VOICE, "v-1", "audio/amr"))
    assert (got.content, got.mime_type, got.file_name) == (b"#!AMR\n...", "audio/amr", None)


async def test_video_answered_with_a_link_is_followed(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    fake.add_media("vid-1", b"\x00\x00\x00\x18ftypmp42", "video/mp4", as_video_url=True)
    got = await connector.fetch_media(ctx, MediaRef(ContentType.VIDEO, "vid-1"))
    assert got.content == b"\x00\x00\x00\x18ftypmp42"
    assert got.mime_type == "video/mp4"


async def test_url_ref_is_refused_unfetched(fake: FakeWeChat, ctx: ChannelContext) -> None:
    """A MediaId naming a URL is an address the push chose: never fetched, not retried."""
    fake.add_media("pic-1", JPEG, "image/jpeg")
    ref = MediaRef(ContentType.IMAGE, f"{API_BASE}/_fake/files/pic-1")
    with pytest.raises(MediaRefused, match="refused_address") as caught:
        await connector.fetch_media(ctx, ref)
    assert caught.value.retryable is False
    assert fake.token_requests == []


async def test_unknown_media_is_a_permanent_40007(ctx: ChannelContext) -> None:
    with pytest.raises(DeliveryError) as caught:
        await connector.fetch_media(ctx, MediaRef(ContentType.IMAGE, "nope"))
    assert caught.value.reason.startswith("invalid_media:")
    assert caught.value.retryable is False


async def test_media_expires_after_three_days(fake: FakeWeChat, ctx: ChannelContext) -> None:
    fake.add_media("img-1", JPEG, "image/jpeg")
    fake.advance(3 * 24 * 3600 + 1)
    with pytest.raises(DeliveryError, match="40007"):
        await connector.fetch_media(ctx, MediaRef(ContentType.IMAGE, "img-1"))


async def test_rejected_token_is_refreshed_for_media(fake: FakeWeChat, ctx: ChannelContext) -> None:
    fake.add_media("img-1", JPEG, "image/jpeg")
    await connector.fetch_media(ctx, MediaRef(ContentType.IMAGE, "img-1"))
    fake.invalidate_tokens()
    got = await connector.fetch_media(ctx, MediaRef(ContentType.IMAGE, "img-1"))
    assert got.content == JPEG
    assert len(fake.token_requests) == 2


async def test_media_over_the_cap_is_refused(fake: FakeWeChat, ctx: ChannelContext) -> None:
    fake.add_media("big", b"\0" * (MAX_MEDIA_BYTES + 1), "video/mp4")
    with pytest.raises(DeliveryError, match="too_large") as caught:
        await connector.fetch_media(ctx, MediaRef(ContentType.VIDEO, "big"))
    assert caught.value.retryable is False


async def test_media_at_the_cap_is_accepted(fake: FakeWeChat, ctx: ChannelContext) -> None:
    fake.add_media("edge", b"\1" * MAX_MEDIA_BYTES, "video/mp4")
    got = await connector.fetch_media(ctx, MediaRef(ContentType.VIDEO, "edge"))
    assert len(got.content) == MAX_MEDIA_BYTES
