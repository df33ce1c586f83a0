"""A minimal but honest connector for exercising the core without a real platform.

Inbound: POST JSON {"id", "from", "name", "text"} signed with
X-Test-Signature = hex HMAC-SHA256(secret, body). Outbound: recorded by a fake
platform that honours the idempotency key and can be told to fail.

Pull mode (the notify-then-pull step, `Connector.pull`): a signed POST of
{"pull": KEY, "token": T} is a notice; the messages wait in `PLATFORM.mailbox[KEY]`
and are fetched `page_size` at a time with cursor "c<offset>".
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, SecretStr

from channels.base import (
    BadSignature,
    BaseConnector,
    Capabilities,
    ChannelContext,
    ContentType,
    DeliveryError,
    InboundContact,
    InboundMessage,
    MalformedPayload,
    MediaFile,
    MediaRef,
    OutboundMessage,
    PullPage,
    PullRequest,
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
    # Pull mode: messages waiting per key, page size, and what each pull asked for.
    mailbox: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 2
    pulls: list[tuple[str, str | None, str]] = field(default_factory=list)  # key, cursor, token
    pull_fail_next: list[DeliveryError] = field(default_factory=list)
    empty_pages_next: int = 0  # the next pulls answer an empty page that still has_more
    pull_delay: float = 0.0

    def reset(self) -> None:
        self.sent.clear()
        self.seen_keys.clear()
        self.calls = 0
        self.fail_next.clear()
        self.crash_after_send = 0
        self.mailbox.clear()
        self.page_size = 2
        self.pulls.clear()
        self.pull_fail_next.clear()
        self.empty_pages_next = 0
        self.pull_delay = 0.0


PLATFORM = FakePlatform()


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _inbound(p: dict[str, Any]) -> InboundMessage:
    return InboundMessage(
        external_id=str(p["id"]),
        contact=InboundContact(external_id=str(p["from"]), name=p.get("name")),
        content_type=ContentType(p.get("type", "text")),
        text=str(p.get("text", "")),
        counts_as_unread=p.get("type", "text") != "event",
        reply_context={"last_id": str(p["id"])},
    )


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.startswith("c"):
        raise DeliveryError(f"invalid cursor {cursor!r}")
    return int(cursor[1:].rstrip("~"))


class LoopbackConnector(BaseConnector):
    type: ClassVar[str] = "test"
    config_model: ClassVar[type[BaseModel]] = LoopbackConfig
    reply_window: ClassVar[timedelta | None] = timedelta(hours=48)
    # idempotent_sends: FakePlatform dedupes on the idempotency key.
    capabilities: ClassVar[Capabilities] = Capabilities(
        media_replies=frozenset({ContentType.IMAGE}), pull=True, idempotent_sends=True
    )
    default_api_base: ClassVar[str] = "http://loopback.invalid"

    def handle_webhook(self, config: BaseModel, request: WebhookRequest) -> WebhookResult:
        assert isinstance(config, LoopbackConfig)
        expected = sign(config.secret.get_secret_value(), request.body)
        if not hmac.compare_digest(expected, request.headers.get("x-test-signature", "")):
            raise BadSignature("bad signature")
        try:
            payload = json.loads(request.body)
            if isinstance(payload, dict) and "pull" in payload:
                notice = PullRequest(key=str(payload["pull"]), token=str(payload.get("token", "")))
                return WebhookResult(pull=notice)
            items = payload if isinstance(payload, list) else [payload]
            messages = [_inbound(p) for p in items]
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedPayload(f"malformed body: {exc}") from exc
        return WebhookResult(messages=messages)

    async def pull(self, ctx: ChannelContext, request: PullRequest, cursor: str | None) -> PullPage:
        PLATFORM.pulls.append((request.key, cursor, request.token))
        if PLATFORM.pull_delay:
            await asyncio.sleep(PLATFORM.pull_delay)
        if PLATFORM.pull_fail_next:
            raise PLATFORM.pull_fail_next.pop(0)
        at = _offset(cursor)
        if PLATFORM.empty_pages_next:
            PLATFORM.empty_pages_next -= 1
            return PullPage(messages=[], next_cursor=f"c{at}~", has_more=True)
        waiting = PLATFORM.mailbox.get(request.key, [])
        end = min(at + PLATFORM.page_size, len(waiting))
        return PullPage(
            messages=[_inbound(p) for p in waiting[at:end]],
            next_cursor=f"c{end}",
            has_more=end < len(waiting),
        )

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
