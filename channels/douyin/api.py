"""HTTP calls to the Douyin open API, with transport failures mapped to DeliveryError.

Only the wire: which path, which header, which body (brief §4.3-4.4). Tokens and
retry decisions live in `tokens.py` and `connector.py`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from channels import netguard
from channels.base import DeliveryError, MediaFile
from channels.transport import classify, retryable_status

SEND_PATH = "/im/send/msg/"
REFRESH_PATH = "/oauth/refresh_token/"
RESOURCES_PATH = "/api/im/message/resources/"

# Douyin drops webhooks after 5 s; for our own calls 10 s is Huiliu's choice, long
# enough for a slow gateway, short enough that a delivery worker does not stall.
TIMEOUT = httpx.Timeout(10.0)
# Media can be a video: allow longer reads than for API calls (Huiliu's choice).
MEDIA_TIMEOUT = httpx.Timeout(10.0, read=30.0)

# How much of an unexpected body to quote in a reason.
_SNIPPET = 200


def _url(api_base: str, path: str) -> str:
    return api_base.rstrip("/") + path


def _transport_error(what: str, exc: httpx.HTTPError, *, idempotent: bool) -> DeliveryError:
    """Retryable when the request cannot have reached Douyin; uncertain when it may have."""
    reason = f"Douyin {what}: {type(exc).__name__}: {exc}".rstrip(": ")
    retryable, uncertain = classify(exc, side_effect=not idempotent)
    return DeliveryError(reason, retryable=retryable, uncertain=uncertain)


async def _call(
    http: httpx.AsyncClient, what: str, *, idempotent: bool, **kwargs: Any
) -> dict[str, Any]:
    """One request; 429 and 5xx are retryable, other non-2xx are refusals; JSON object out."""
    try:
        response = await http.request(timeout=TIMEOUT, **kwargs)
    except httpx.HTTPError as exc:
        raise _transport_error(what, exc, idempotent=idempotent) from exc
    status = response.status_code
    snippet = response.text[:_SNIPPET]
    if retryable_status(status):
        raise DeliveryError(f"Douyin {what}: HTTP {status} {snippet}".strip(), retryable=True)
    if status >= 300:
        raise DeliveryError(f"Douyin {what}: HTTP {status} {snippet}".strip())
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        # A gateway page in a 200: the request may still have been handled.
        reason = f"Douyin {what}: answer is not a JSON object: {snippet}"
        raise DeliveryError(reason, retryable=idempotent, uncertain=not idempotent)
    return payload


async def send_message(
    http: httpx.AsyncClient, api_base: str, open_id: str, token: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """POST /im/send/msg/?open_id=… with the `access-token` header (brief §4.3)."""
    url = _url(api_base, SEND_PATH)
    query, headers = {"open_id": open_id}, {"access-token": token}
    return await _call(
        http,
        "send",
        idempotent=False,
        method="POST",
        url=url,
        params=query,
        headers=headers,
        json=dict(body),
    )


async def refresh_token(
    http: httpx.AsyncClient, api_base: str, client_key: str, refresh: str
) -> dict[str, Any]:
    """POST /oauth/refresh_token/, form-encoded as the SKIT SDK sends it (brief §4.4)."""
    form = {"client_key": client_key, "grant_type": "refresh_token", "refresh_token": refresh}
    url = _url(api_base, REFRESH_PATH)
    return await _call(http, "token refresh", idempotent=True, method="POST", url=url, data=form)


async def message_resource(
    http: httpx.AsyncClient,
    api_base: str,
    open_id: str,
    token: str,
    conversation_id: str,
    message_id: str,
) -> dict[str, Any]:
    """GET /api/im/message/resources/: a URL for a user_local_image/video (brief §4.2).

    httpx percent-encodes the `+`, `/` and `=` these ids contain, which the doc
    requires ("由于 conversation_id 包含 + = 等特殊字符，传参时需要进行编码" [3p quote]).
    """
    ids = {"open_id": open_id, "conversation_id": conversation_id, "message_id": message_id}
    url = _url(api_base, RESOURCES_PATH)
    headers = {"access-token": token}
    return await _call(
        http, "media lookup", idempotent=True, method="GET", url=url, params=ids, headers=headers
    )


async def download(
    http: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    *,
    max_bytes: int,
    mime_hint: str | None,
    api_base: str,
    allowed_suffixes: tuple[str, ...],
) -> MediaFile:
    """Fetch one media file through the guarded fetcher (allowlisted public hosts, capped)."""
    try:
        response = await netguard.fetch(
            http,
            url,
            trusted_base=api_base,
            allowed_suffixes=allowed_suffixes,
            max_bytes=max_bytes,
            headers=headers,
            timeout=MEDIA_TIMEOUT,
        )
    except netguard.TooLarge as exc:
        raise DeliveryError(f"Douyin media: {exc.reason}") from exc
    except httpx.HTTPError as exc:
        raise _transport_error("media", exc, idempotent=True) from exc
    status = response.status_code
    if retryable_status(status):
        raise DeliveryError(f"Douyin media: HTTP {status}", retryable=True)
    if status != 200:
        raise DeliveryError(f"Douyin media: HTTP {status}")
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    content = response.content
    mime = content_type or mime_hint or "application/octet-stream"
    return MediaFile(content=content, mime_type=mime)
