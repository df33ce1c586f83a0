"""Inbound media downloads (`/cgi-bin/media/get`, plain URLs) and outbound image
uploads (`/cgi-bin/media/upload`), `channels.md` §2.5.
"""

from __future__ import annotations

import re

import httpx

from channels import netguard
from channels.base import ChannelContext, DeliveryError, MediaFile, MediaRef, OutboundMedia
from channels.wechat import api, errors
from channels.wechat.config import WeChatConfig

# The largest temporary media WeChat accepts is a 10 MB video (§2.5 limits), so anything
# bigger is not a real WeChat file; the cap also bounds memory per download.
MAX_MEDIA_BYTES = 10 * 1024 * 1024
# media/get answers errors (and video links) as JSON, sometimes labelled text/plain (§2.5).
JSON_TYPES = ("application/json", "text/plain")
UPLOAD_PATH = "/cgi-bin/media/upload"
# Temporary image media: png/jpeg/jpg/gif up to 2 MB (§2.5). Newer docs say 10 MB [U];
# the older, stricter cap is the one every account is known to accept.
MAX_IMAGE_UPLOAD_BYTES = 2 * 1024 * 1024
# Magic bytes -> (MIME type, file extension). The bytes decide, not the declared type,
# and the uploaded file name gets the matching extension.
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": ("image/png", "png"),
    b"\xff\xd8\xff": ("image/jpeg", "jpg"),
    b"GIF87a": ("image/gif", "gif"),
    b"GIF89a": ("image/gif", "gif"),
}
_FILENAME = re.compile(r"""filename\*?=(?:UTF-8'')?"?([^";]+)"?""", re.IGNORECASE)


# Hosts a video link from media/get may point at besides the API base: Tencent's CDNs
# (mmbiz.qpic.cn for pictures, *.qq.com for video) [U: the exact video host is not
# documented]. An allowlist, so no link can aim the download at an internal address.
MEDIA_HOST_SUFFIXES = ("qq.com", "qpic.cn", "qlogo.cn")


def is_url(ref: str) -> bool:
    return ref.startswith(("https://", "http://"))


async def fetch(ctx: ChannelContext, config: WeChatConfig, ref: MediaRef) -> MediaFile:
    """Download one media_id through media/get; a URL in its place is refused.

    The MediaId comes from the push, whose plain-mode body no signature covers, so a
    URL there is an address the sender chose: never fetched (server-side request forgery).
    """
    if is_url(ref.ref):
        raise netguard.MediaRefused("a push named a URL instead of a media_id")

    async def call(token: str) -> MediaFile:
        params = {"access_token": token, "media_id": ref.ref}
        return await _download(ctx, api.url(ctx, "/cgi-bin/media/get"), ref, params)

    return await api.with_token(ctx, config, call)


async def _download(
    ctx: ChannelContext, target: str, ref: MediaRef, params: dict[str, str] | None = None
) -> MediaFile:
    try:
        response = await netguard.fetch(
            ctx.http,
            target,
            trusted_base=ctx.api_base,
            allowed_suffixes=MEDIA_HOST_SUFFIXES,
            max_bytes=MAX_MEDIA_BYTES,
            params=params,
            allow_http=True,  # media/get's video links are often plain http (§2.5)
        )
    except netguard.TooLarge as exc:
        raise _too_large() from exc
    except httpx.TransportError as exc:
        # A download has no side effect: every network failure is retryable.
        raise errors.PLATFORM.transport_error(exc, request_may_have_landed=False) from exc
    content = response.content
    mime = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if mime.startswith(JSON_TYPES) or response.is_error:
        data = api.parse_answer(response.status_code, content)
        api.check_errcode(data)
        video_url = data.get("video_url")
        if params is not None and isinstance(video_url, str) and is_url(video_url):
            # Video media answers with a link to the file instead of the bytes (§2.5).
            return await _download(ctx, video_url, ref)
        raise DeliveryError("bad_response: 微信未返回媒体文件 / no media in the WeChat answer")
    return MediaFile(
        content=content,
        mime_type=mime or ref.mime_type or "application/octet-stream",
        file_name=_file_name(response.headers.get("content-disposition", "")) or ref.file_name,
    )


def _too_large() -> DeliveryError:
    return DeliveryError(
        f"too_large: 媒体文件超过 {MAX_MEDIA_BYTES // (1024 * 1024)} MiB / media over the size cap"
    )


def _file_name(disposition: str) -> str | None:
    match = _FILENAME.search(disposition)
    return match.group(1).strip() if match else None


def image_upload(item: OutboundMedia) -> tuple[str, str]:
    """(file name, MIME type) to upload `item` as, or a permanent DeliveryError.

    Checked before any call, with the limits of §2.5, so the agent reads why at once.
    """
    size = len(item.content)
    if size > MAX_IMAGE_UPLOAD_BYTES:
        raise DeliveryError(
            f"too_large: 图片超过微信的 {MAX_IMAGE_UPLOAD_BYTES // (1024 * 1024)} MB 上限 / "
            f"image over WeChat's {MAX_IMAGE_UPLOAD_BYTES // (1024 * 1024)} MB limit "
            f"({size} bytes)"
        )
    sniffed = next(
        (kind for magic, kind in _IMAGE_MAGIC.items() if item.content.startswith(magic)), None
    )
    if sniffed is None:
        raise DeliveryError(
            "unsupported_media: 微信只能发送 PNG、JPEG、GIF 图片 / "
            f"WeChat only takes PNG, JPEG and GIF images (got {item.mime_type or 'unknown'})"
        )
    mime, extension = sniffed
    # The customer never sees the name; WeChat may judge the type by its extension.
    return f"image.{extension}", mime


async def upload_image(ctx: ChannelContext, config: WeChatConfig, item: OutboundMedia) -> str:
    """Upload one image as temporary media (valid 3 days); returns its media_id."""
    file_name, mime = image_upload(item)

    async def call(token: str) -> str:
        try:
            response = await ctx.http.post(
                api.url(ctx, UPLOAD_PATH),
                params={"access_token": token, "type": "image"},
                files={"media": (file_name, item.content, mime)},
            )
        except httpx.TransportError as exc:
            # An upload only stores a temporary file: nothing reaches the customer, so
            # retrying after a lost answer is harmless.
            raise errors.PLATFORM.transport_error(exc, request_may_have_landed=False) from exc
        data = api.decode_json(response)
        api.check_errcode(data)
        media_id = data.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise DeliveryError("bad_response: 微信未返回 media_id / no media_id in the answer")
        return media_id

    return await api.with_token(ctx, config, call)
