"""The only bridge between platforms and the product.

A connector knows one platform's wire protocol (signatures, XML/JSON, crypto,
tokens, rate limits) and turns it into the typed values below. It never touches
the database: `app/` stores what a connector parses and hands it what to send.
Everything here is plain data or a Protocol, so a connector is tested with no
database and no network.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import httpx
from pydantic import BaseModel, SecretStr


def utcnow() -> datetime:
    """An aware UTC now; connectors take it from the context so tests can move time."""
    return datetime.now(UTC)


class ContentType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    FILE = "file"
    LOCATION = "location"
    LINK = "link"
    EVENT = "event"
    # A type the connector does not understand: stored and acknowledged, never dropped.
    UNSUPPORTED = "unsupported"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


# --- inbound -------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookRequest:
    """One HTTP request from a platform, as the connector needs to see it."""

    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    # When it arrived (Unix seconds); None: now. A push older than the platform's window
    # is refused, so a connector stays pure and its tests can replay captured vectors.
    received_at: float | None = None


@dataclass(frozen=True)
class InboundContact:
    """The customer as the platform names them; `external_id` is stable per channel."""

    external_id: str
    name: str | None = None
    avatar_url: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MediaRef:
    """Media to fetch after the acknowledgement (platform media id or URL)."""

    kind: ContentType
    ref: str
    mime_type: str | None = None
    file_name: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """One normalized platform message or lifecycle event.

    `external_id` is the dedupe key, unique per channel (WeChat MsgId, or
    FromUserName+CreateTime+Event for events; Douyin server_message_id).
    """

    external_id: str
    contact: InboundContact
    content_type: ContentType
    text: str = ""
    media: tuple[MediaRef, ...] = ()
    # Structured content: location (latitude, longitude, label), link (url, title),
    # event (event name, scene), unsupported (platform type).
    extra: Mapping[str, Any] = field(default_factory=dict)
    sent_at: datetime | None = None
    # OUTBOUND for messages the business sent from the platform's own app.
    direction: Direction = Direction.INBOUND
    # What a reply to this message needs (e.g. Douyin msg_id and conversation id).
    reply_context: Mapping[str, str] = field(default_factory=dict)
    # True: the customer can no longer be written to (WeChat unsubscribe);
    # False: reachable again (subscribe); None: no change.
    unreachable: bool | None = None
    # Lifecycle events do not count as unread and do not reopen resolved conversations.
    counts_as_unread: bool = True


@dataclass(frozen=True)
class PullRequest:
    """A notification that messages wait on the platform, to be pulled after the answer.

    `key` names the cursor (one per channel and key, e.g. WeCom's open_kfid); `token`
    is what the notice carried for the pull (WeCom's `Token`; may be empty).
    """

    key: str = ""
    token: str = ""


@dataclass(frozen=True)
class DeliveryReport:
    """The platform reports, after accepting it, that one of our replies was not delivered.

    `external_id` is the id the send gave the message (WeCom's msgid: our idempotency key).
    """

    external_id: str
    reason: str


@dataclass(frozen=True)
class PlatformNotice:
    """A platform notification about the account, not a conversation (a template or mass
    send finished, a servicer went offline): kept in the channel's log, not in a chat."""

    event: str
    text: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class WebhookResult:
    """What to answer the platform, and what to store before answering.

    `pull`: the platform only notified; the product answers at once and then calls
    `Connector.pull` (connectors with `Capabilities.pull`).
    """

    body: bytes = b"success"
    media_type: str = "text/plain"
    status: int = 200
    messages: list[InboundMessage] = field(default_factory=list)
    pull: PullRequest | None = None
    notices: list[PlatformNotice] = field(default_factory=list)
    # The push's signed one-time parameters (e.g. WeChat's timestamp and nonce), when its
    # signature does not cover the body: the product refuses the same key with another
    # body within the push window (a replayed signature on a forged message).
    replay_key: str | None = None


@dataclass(frozen=True)
class PullPage:
    """One page a connector pulled: its messages and where the next pull starts.

    The product stores `messages` and `next_cursor` in one transaction, and pulls
    again at once while `has_more` (a page may be empty and still have more).
    """

    messages: list[InboundMessage]
    next_cursor: str | None
    has_more: bool = False
    # Stored in the same transaction as the messages.
    reports: list[DeliveryReport] = field(default_factory=list)
    notices: list[PlatformNotice] = field(default_factory=list)


class WebhookError(Exception):
    """A request that must be refused; nothing of it is stored."""

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadSignature(WebhookError):
    status = 403


class MalformedPayload(WebhookError):
    status = 400


# --- outbound ------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboundMedia:
    """A file an agent sends (an image reply), read from attachment storage."""

    kind: ContentType
    content: bytes
    mime_type: str
    file_name: str | None = None


@dataclass(frozen=True)
class OutboundMessage:
    """An agent reply the delivery worker hands to `Connector.send`.

    content_type TEXT carries `text`; IMAGE (and later other media) carries one
    entry in `media`, which the connector uploads to its platform first.
    """

    idempotency_key: str  # stable across retries of the same message
    recipient: str  # the contact's external id on this channel
    content_type: ContentType
    text: str
    attachments: tuple[Mapping[str, Any], ...] = ()
    reply_context: Mapping[str, str] = field(default_factory=dict)
    media: tuple[OutboundMedia, ...] = ()
    # Choices (id, label) to show as a tappable menu under `text` (a satisfaction survey),
    # given only to a connector whose capabilities declare `menus`; a tap comes back as
    # an inbound text whose `extra["menu_id"]` is the choice's id.
    choices: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SendResult:
    external_id: str | None = None  # the platform's id of the sent message, when it gives one


class DeliveryError(Exception):
    """A send that did not go through.

    retryable: transient (network before the request was sent, 429, 5xx, -1 busy);
    uncertain: the request may have reached the platform (read timeout), so it is
    not blindly retried unless the platform honours the idempotency key.
    """

    def __init__(self, reason: str, *, retryable: bool = False, uncertain: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.uncertain = uncertain


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
class MediaFile:
    content: bytes
    mime_type: str
    file_name: str | None = None


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
