"""Signed webhook pushes built exactly as Douyin sends them (brief §4.1).

For tests and the demo simulator; `fake.FakeDouyin.customer_event` builds
realistic IM pushes on top of `build_event`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from channels.douyin.signature import sign


def b64_id(*parts: str) -> str:
    """An id shaped like Douyin's (`@` + base64, with + / =), stable for its parts."""
    return "@" + base64.b64encode(hashlib.sha256("|".join(parts).encode()).digest()).decode()


def build_event(
    client_secret: str,
    event: str,
    content: Mapping[str, Any],
    from_user_id: str = "",
    to_user_id: str = "",
    *,
    client_key: str = "",
    msg_id: str | None = None,
    content_as_object: bool = False,
    log_id: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """One push as Douyin sends it: (headers, exact body bytes).

    `content` is JSON-encoded into a string as in most events, or kept an object
    (verify_webhook, the SKIT IM sample). Msg-Id defaults to a hash of the body,
    so building the same event twice gives a faithful retry.
    """
    payload: dict[str, Any] = {
        "event": event,
        "client_key": client_key,
        "from_user_id": from_user_id,
        "to_user_id": to_user_id,
        "content": dict(content)
        if content_as_object
        else json.dumps(content, ensure_ascii=False, separators=(",", ":")),
    }
    if log_id is not None:
        payload["log_id"] = log_id
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "Msg-Id": msg_id or hashlib.sha256(body).hexdigest()[:32],
        "X-Douyin-Signature": sign(client_secret, body),
    }
    return headers, body


def build_verify_webhook(client_secret: str, challenge: int) -> tuple[dict[str, str], bytes]:
    """The URL-verification push sent when the admin saves the webhook (brief §4.1)."""
    return build_event(
        client_secret, "verify_webhook", {"challenge": challenge}, content_as_object=True
    )
