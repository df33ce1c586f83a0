"""Inbound media: event URLs, the resources API for user_local_*, caps and allowlist."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from channels import netguard
from channels.base import ChannelContext, ContentType, DeliveryError, MediaRef
from channels.douyin import connector
from channels.douyin.connector import MAX_MEDIA_BYTES
from channels.douyin.envelope import resource_ref
from sandbox.douyin.fake import FakeDouyin
from tests.channels.douyin.douyin_support import MemoryState

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
CONVERSATION = "@9Vxc1/yDU8sqaS+gN4koEc7912foPPiLPZ+yrQ/gKVQab=="
MESSAGE = "@9Vxc1/yDU8sqaS+gN4koEc7912foPPyAPpF2rg+kLFg/w=="


async def test_local_image_via_resources_api(ctx: ChannelContext, fake: FakeDouyin) -> None:
    fake.add_resource(CONVERSATION, MESSAGE, JPEG, mime_type="image/jpeg")
    ref = MediaRef(kind=ContentType.IMAGE, ref=resource_ref(CONVERSATION, MESSAGE))
    file = await connector.fetch_media(ctx, ref)
    # The fake only serves it when the ids round-tripped (+ / = encoded), the literal
    # \u0026 was turned into &, and Access-Token + OpenID headers were sent.
    assert file.content == JPEG
    assert file.mime_type == "image/jpeg"
    assert len(fake.media_requests) == 1


async def test_event_url_is_fetched_directly(ctx: ChannelContext, fake: FakeDouyin) -> None:
    url = fake.add_cdn_file(b"GIF89a...", "image/gif")
    file = await connector.fetch_media(ctx, MediaRef(kind=ContentType.IMAGE, ref=url))
    assert (file.content, file.mime_type) == (b"GIF89a...", "image/gif")


async def test_unknown_resource_is_a_readable_error(ctx: ChannelContext) -> None:
    ref = MediaRef(kind=ContentType.IMAGE, ref=resource_ref(CONVERSATION, "@missing=="))
    with pytest.raises(DeliveryError) as err:
        await connector.fetch_media(ctx, ref)
    assert "28029020" in err.value.reason and "未获取到资源链接" in err.value.reason
    assert not err.value.retryable


async def test_expired_token_is_refreshed_for_media(ctx: ChannelContext, fake: FakeDouyin) -> None:
    fake.add_resource(CONVERSATION, MESSAGE, JPEG)
    fake.advance(timedelta(days=16))
    ref = MediaRef(kind=ContentType.IMAGE, ref=resource_ref(CONVERSATION, MESSAGE))
    assert (await connector.fetch_media(ctx, ref)).content == JPEG
    assert fake.refresh_calls == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "https://evil.example.com/x.jpg",
        "http://p3.douyinpic.com/plain-http.jpg",
        "https://douyinpic.com.evil.example/x.jpg",
        "file:///etc/passwd",
    ],
)
async def test_urls_outside_the_allowlist_are_not_fetched(ctx: ChannelContext, url: str) -> None:
    with pytest.raises(DeliveryError) as err:
        await connector.fetch_media(ctx, MediaRef(kind=ContentType.IMAGE, ref=url))
    assert "not allowed" in err.value.reason


async def test_douyin_cdn_is_allowed(fake: FakeDouyin, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CDN host is fetched at the public address it was checked at, with its own Host/SNI."""
    seen: list[httpx.Request] = []

    async def lookup(host: str, port: int) -> list[str]:
        return ["101.226.90.58"] if host == "p3.douyinpic.com" else ["10.0.0.5"]

    monkeypatch.setattr(netguard, "_lookup", lookup)

    def cdn(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"png", headers={"content-type": "image/png"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(cdn)) as http:
        ctx = ChannelContext(1, fake.config(), http, fake.base_url, MemoryState(), fake.now)
        url = "https://p3.douyinpic.com/obj/im-resource/emoji.png"
        file = await connector.fetch_media(ctx, MediaRef(kind=ContentType.IMAGE, ref=url))
        assert file.content == b"png"
        (request,) = seen
        assert str(request.url) == "https://101.226.90.58/obj/im-resource/emoji.png"
        assert request.headers["host"] == "p3.douyinpic.com"
        assert request.extensions["sni_hostname"] == "p3.douyinpic.com"
        # An allowlisted name that resolves inward (DNS rebinding, a poisoned record).
        inward = "https://p6.douyinpic.com/obj/x.png"
        with pytest.raises(netguard.MediaRefused, match="10.0.0.5"):
            await connector.fetch_media(ctx, MediaRef(kind=ContentType.IMAGE, ref=inward))
    assert len(seen) == 1


async def test_oversized_media_is_refused(ctx: ChannelContext, fake: FakeDouyin) -> None:
    url = fake.add_cdn_file(b"\x00" * (MAX_MEDIA_BYTES + 1), "video/mp4")
    with pytest.raises(DeliveryError) as err:
        await connector.fetch_media(ctx, MediaRef(kind=ContentType.VIDEO, ref=url))
    assert str(MAX_MEDIA_BYTES) in err.value.reason


async def test_media_5xx_is_retryable(fake: FakeDouyin) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(503))
    async with httpx.AsyncClient(transport=transport) as http:
        ctx = ChannelContext(1, fake.config(), http, fake.base_url, MemoryState(), fake.now)
        url = f"{fake.base_url}/fake-cdn/abc"
        with pytest.raises(DeliveryError) as err:
            await connector.fetch_media(ctx, MediaRef(kind=ContentType.IMAGE, ref=url))
    assert err.value.retryable
