"""A minimal but honest connector for exercising the core without a real platform.

Inbound: POST JSON {"id", "from", "name", "text"} signed with
X-Test-Signature = hex HMAC-SHA256(secret, body). Outbound: recorded by a fake
platform that honours the idempotency key and can be told to fail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, SecretStr

from channels.base import (
    BadSignature,
    ChannelContext,
    ContentType,
    DeliveryError,
    InboundContact,
    InboundMessage,
    MalformedPayload,
    MediaFile,
    MediaRef,
    OutboundMessage,
    SendResult,
    WebhookRequest,
    WebhookResult,
)


class LoopbackConfig(BaseModel):
    secret: SecretStr
    tags: list[str] = []


@dataclass
class FakePlatform:
    sent: list[OutboundMessage] = field(default_factory=list)
    seen_keys: set[str] = field(default_factory=set)
    calls: int = 0
    fail_next: list[DeliveryError] = field(default_factory=list)
    crash_after_send: int = 0

    def reset(self) -> None:
        self.sent.clear()
        self.seen_keys.clear()
        self.calls = 0
        self.fail_next.clear()
        self.crash_after_send = 0


PLATFORM = FakePlatform()


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class LoopbackConnector:
    type: ClassVar[str] = "test"
    config_model: ClassVar[type[BaseModel]] = LoopbackConfig
    reply_window: ClassVar[timedelta | None] = timedelta(hours=48)
    media_reply_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.IMAGE})
    honours_idempotency_key: ClassVar[bool] = True  # FakePlatform dedupes on the key

    def handle_webhook(self, config: BaseModel, request: WebhookRequest) -> WebhookResult:
        assert isinstance(config, LoopbackConfig)
        expected = sign(config.secret.get_secret_value(), request.body)
        if not hmac.compare_digest(expected, request.headers.get("x-test-signature", "")):
            raise BadSignature("bad signature")
        try:
            payload = json.loads(request.body)
            items = payload if isinstance(payload, list) else [payload]
            messages = [
                InboundMessage(
                    external_id=str(p["id"]),
                    contact=InboundContact(external_id=str(p["from"]), name=p.get("name")),
                    content_type=ContentType(p.get("type", "text")),
                    text=str(p.get("text", "")),
                    counts_as_unread=p.get("type", "text") != "event",
                    reply_context={"last_id": str(p["id"])},
                )
                for p in items
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedPayload(f"malformed body: {exc}") from exc
        return WebhookResult(messages=messages)

    async def send(self, ctx: ChannelContext, message: OutboundMessage) -> SendResult:
        PLATFORM.calls += 1
        if PLATFORM.fail_next:
            raise PLATFORM.fail_next.pop(0)
        if message.idempotency_key not in PLATFORM.seen_keys:
            PLATFORM.seen_keys.add(message.idempotency_key)
            PLATFORM.sent.append(message)
        if PLATFORM.crash_after_send:
            PLATFORM.crash_after_send -= 1
            raise SystemExit("simulated crash after the platform accepted the message")
        return SendResult(external_id=f"out-{message.idempotency_key}")

    async def fetch_media(self, ctx: ChannelContext, ref: MediaRef) -> MediaFile:
        raise DeliveryError("no media on the test platform")

    def describe(self, channel_id: int, config: BaseModel, public_url: str) -> dict[str, Any]:
        return {"signature_header": "X-Test-Signature"}


connector = LoopbackConnector()
