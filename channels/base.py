"""The only bridge between platforms and the product.

A connector knows one platform's wire protocol (signatures, XML/JSON, crypto,
tokens, rate limits) and turns it into the typed values below. It never touches
the database: `app/` stores what a connector parses and hands it what to send.
Everything here is plain data or a Protocol, so a connector is tested with no
database and no network. The typed values themselves are in `channels.values`,
re-exported here: import them from this module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

import httpx
from pydantic import BaseModel, SecretStr

from channels.values import (
    BadSignature,
    ContentType,
    DeliveryError,
    DeliveryReport,
    Direction,
    InboundContact,
    InboundMessage,
    MalformedPayload,
    MediaFile,
    MediaRef,
    OutboundMedia,
    OutboundMessage,
    PlatformNotice,
    PullPage,
    PullRequest,
    SendResult,
    WebhookError,
    WebhookRequest,
    WebhookResult,
)

__all__ = [
    "BadSignature",
    "BaseConnector",
    "Capabilities",
    "ChannelContext",
    "ChannelState",
    "Connector",
    "ContentType",
    "DeliveryError",
    "DeliveryReport",
    "Direction",
    "InboundContact",
    "InboundMessage",
    "MalformedPayload",
    "MediaFile",
    "MediaRef",
    "OutboundMedia",
    "OutboundMessage",
    "PlatformNotice",
    "PullPage",
    "PullRequest",
    "STATE_REASON",
    "STATE_REAUTHORIZATION_NEEDED",
    "SendFn",
    "SendResult",
    "WebhookError",
    "WebhookRequest",
    "WebhookResult",
    "dump_config",
    "redact_config",
    "state_lock",
    "utcnow",
]


def utcnow() -> datetime:
    """An aware UTC now; connectors take it from the context so tests can move time."""
    return datetime.now(UTC)


class ChannelState(Protocol):
    """Mutable per-channel state kept by the product (cached tokens, cursors).

    The product's implementation also offers `lock(name)`, an async context manager
    that serializes e.g. a token refresh across tasks *and processes*; connectors use
    it through `state_lock()` so a plain in-memory state (tests) still works.
    """

    async def load(self) -> dict[str, Any]: ...

    async def save(self, state: dict[str, Any]) -> None: ...


def state_lock(state: ChannelState, name: str) -> AbstractAsyncContextManager[Any]:
    """The state's cross-process lock when it has one, else a no-op."""
    lock = getattr(state, "lock", None)
    return lock(name) if lock is not None else nullcontext()


@dataclass
class ChannelContext:
    """Everything a connector may use to talk to its platform."""

    channel_id: int
    config: BaseModel
    http: httpx.AsyncClient
    api_base: str
    state: ChannelState
    now: Callable[[], datetime] = utcnow


@dataclass(frozen=True)
class Capabilities:
    """What a connector can do beyond receive, send and fetch media.

    media_replies: content types `send` accepts in `OutboundMessage.media` (image replies);
    typing: `Connector.typing` shows "the agent is typing" on the platform;
    menus: `send` shows `OutboundMessage.choices` as a menu (WeChat's msgmenu);
    pull: `handle_webhook` may return `WebhookResult.pull`, and `Connector.pull` fetches;
    idempotent_sends: sending the same `idempotency_key` twice shows the reply once. False:
    a send that may have landed is never repeated on its own (the reply is marked
    uncertain and the agent decides).
    """

    media_replies: frozenset[ContentType] = frozenset()
    typing: bool = False
    pull: bool = False
    idempotent_sends: bool = False
    menus: bool = False


class Connector(Protocol):
    """What every platform module provides; registered in `channels.registry`.

    Subclass `BaseConnector` for the defaults of the optional parts.
    """

    config_model: ClassVar[type[BaseModel]]  # declared before `type`, which shadows the builtin
    type: ClassVar[str]
    # How long after the customer's last message a reply is still accepted (None: always).
    reply_window: ClassVar[timedelta | None]
    capabilities: ClassVar[Capabilities]
    # The platform's API host; `HUILIU_<TYPE>_API_BASE` overrides it ("": no platform API).
    default_api_base: ClassVar[str]

    def reply_window_for(self, config: BaseModel) -> timedelta | None:
        """The reply window of one channel (a config may override the class default)."""
        ...

    def handle_webhook(self, config: BaseModel, request: WebhookRequest) -> WebhookResult:
        """Verify and parse one request. Pure: no I/O. Raises WebhookError."""
        ...

    async def send(self, ctx: ChannelContext, message: OutboundMessage) -> SendResult:
        """Send one reply. Raises DeliveryError."""
        ...

    async def fetch_media(self, ctx: ChannelContext, ref: MediaRef) -> MediaFile:
        """Download inbound media after the acknowledgement. Raises DeliveryError."""
        ...

    def describe(self, channel_id: int, config: BaseModel, public_url: str) -> dict[str, Any]:
        """Extra setup facts shown to the admin (embed snippet, secrets to paste)."""
        ...

    async def typing(self, ctx: ChannelContext, recipient: str, typing: bool) -> None:
        """Show or cancel "typing" (`capabilities.typing`). Best effort: DeliveryError."""
        ...

    async def pull(self, ctx: ChannelContext, request: PullRequest, cursor: str | None) -> PullPage:
        """Fetch one page after `cursor` (None: from the start). Raises DeliveryError."""
        ...


class BaseConnector:
    """Defaults for the optional parts of `Connector`: nothing beyond the basics.

    A connector whose platform notifies and must then be pulled (WeCom) does::

        class KfConnector(BaseConnector):
            type = "wecom"
            capabilities = Capabilities(pull=True)
            default_api_base = "https://qyapi.weixin.qq.com"

            def handle_webhook(self, config, request):
                notice = verify_and_decrypt(config, request)  # pure, raises WebhookError
                return WebhookResult(pull=PullRequest(key=notice.open_kfid, token=notice.token))

            async def pull(self, ctx, request, cursor):
                data = await sync_msg(ctx, cursor=cursor, token=request.token,
                                      open_kfid=request.key, limit=1000)
                return PullPage(messages=[parse(m) for m in data["msg_list"]],
                                next_cursor=data["next_cursor"],
                                has_more=data["has_more"] == 1)

    The product answers the notice at once, then (under the channel's cross-process
    lock "pull:<key>") calls `pull` with the stored cursor, page after page while
    `has_more`, storing each page's messages and `next_cursor` in one transaction.
    A DeliveryError leaves the cursor where it was; the pull is retried later.
    """

    reply_window: ClassVar[timedelta | None] = None
    capabilities: ClassVar[Capabilities] = Capabilities()
    default_api_base: ClassVar[str] = ""

    def reply_window_for(self, config: BaseModel) -> timedelta | None:
        return self.reply_window

    async def typing(self, ctx: ChannelContext, recipient: str, typing: bool) -> None:
        raise DeliveryError("typing is not supported on this channel")

    async def pull(self, ctx: ChannelContext, request: PullRequest, cursor: str | None) -> PullPage:
        raise DeliveryError("pull is not supported on this channel")


# Connector state keys the product reads: a connector that can no longer reach its
# platform without the admin (an expired OAuth grant) sets both, and clears them
# once it works again. The channel list shows them.
STATE_REAUTHORIZATION_NEEDED = "reauthorization_needed"
STATE_REASON = "reason"


def dump_config(config: BaseModel) -> dict[str, Any]:
    """A config as stored: secrets revealed (the database keeps them), JSON-safe."""
    out: dict[str, Any] = {}
    for name, value in config:
        out[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return out


def redact_config(config: BaseModel) -> dict[str, Any]:
    """A config as shown to people: secrets masked."""
    return config.model_dump(mode="json")


SendFn = Callable[[ChannelContext, OutboundMessage], Awaitable[SendResult]]
