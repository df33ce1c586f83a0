"""The typed values that cross the bridge between a platform and the product.

Plain data and the errors a connector raises: what a webhook carries in, what a
reply carries out. `channels.base` re-exports every name here, so connectors and
the product import them from the bridge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


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


@dataclass(frozen=True)
class MediaFile:
    content: bytes
    mime_type: str
    file_name: str | None = None
