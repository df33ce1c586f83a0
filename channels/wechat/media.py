"""Downloading inbound media: `/cgi-bin/media/get` and plain URLs (`channels.md` §2.5)."""

from __future__ import annotations

import re

import httpx

from channels.base import ChannelContext, DeliveryError, MediaFile, MediaRef
from channels.wechat import api, errors
from channels.wechat.config import WeChatConfig

# The largest temporary media WeChat accepts is a 10 MB video (§2.5 limits), so anything
# bigger is not a real WeChat file; the cap also bounds memory per download.
MAX_MEDIA_BYTES = 10 * 1024 * 1024
# media/get answers errors (and video links) as JSON, sometimes labelled text/plain (§2.5).
JSON_TYPES = ("application/json", "text/plain")
_FILENAME = re.compile(r"""filename\*?=(?:UTF-8'')?"?([^";]+)"?""", re.IGNORECASE)


def is_url(ref: str) -> bool:
    return ref.startswith(("https://", "http://"))


async def fetch(ctx: ChannelContext, config: WeChatConfig, ref: MediaRef) -> MediaFile:
    """Download one MediaRef: a URL directly, a media_id through media/get."""
    if is_url(ref.ref):
        return await _download(ctx, ref.ref, ref)

    async def call(token: str) -> MediaFile:
        params = {"access_token": token, "media_id": ref.ref}
        return await _download(ctx, api.url(ctx, "/cgi-bin/media/get"), ref, params)

    return await api.with_token(ctx, config, call)


async def _download(
    ctx: ChannelContext, target: str, ref: MediaRef, params: dict[str, str] | None = None
) -> MediaFile:
    try:
        async with ctx.http.stream("GET", target, params=params) as response:
            content = await _read_capped(response)
    except httpx.TransportError as exc:
        # A download has no side effect: every network failure is retryable.
        raise errors.transport_error(exc, request_may_have_landed=False) from exc
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


async def _read_capped(response: httpx.Response) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_MEDIA_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_MEDIA_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> DeliveryError:
    return DeliveryError(
        f"too_large: 媒体文件超过 {MAX_MEDIA_BYTES // (1024 * 1024)} MiB / media over the size cap"
    )


def _file_name(disposition: str) -> str | None:
    match = _FILENAME.search(disposition)
    return match.group(1).strip() if match else None
