"""One `kf/sync_msg` page (channels.md §3 "Pull"), as the product's pull step wants it.

The product (app/ingest/pull.py) calls `pull_page` with the stored cursor under the
channel's lock, stores the page's messages, reports and notices with `next_cursor` in
one transaction, and calls again while `has_more` (a page may be empty and still say
has_more 1). Here: the call with the notice's Token and `limit` 1000, the mapping of
every item, nicknames from kf/customer/batchget, and the enter_session greeting.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from channels.base import (
    ChannelContext,
    ContentType,
    DeliveryError,
    DeliveryReport,
    Direction,
    InboundContact,
    InboundMessage,
    PlatformNotice,
    PullPage,
    PullRequest,
)
from channels.wecom import api
from channels.wecom.config import WeComConfig
from channels.wecom.messages import parse_item

SYNC_PATH = "/cgi-bin/kf/sync_msg"
BATCHGET_PATH = "/cgi-bin/kf/customer/batchget"
WELCOME_PATH = "/cgi-bin/kf/send_msg_on_event"
# limit: the default and the maximum of sync_msg (§3).
PAGE_LIMIT = 1000
# batchget takes at most 100 external_userid per call [doc 95159].
BATCHGET_MAX = 100


async def pull_page(
    ctx: ChannelContext, config: WeComConfig, request: PullRequest, cursor: str | None
) -> PullPage:
    """The page after `cursor`; raises DeliveryError on a platform error (nothing stored)."""
    body: dict[str, Any] = {"cursor": cursor or "", "limit": PAGE_LIMIT, "open_kfid": request.key}
    if request.token:
        # Without the notice's Token sync_msg is strictly rate-limited (§3).
        body["token"] = request.token
    data = await api.post_json(ctx, config, SYNC_PATH, body)
    inbound: list[InboundMessage] = []
    reports: list[DeliveryReport] = []
    notices: list[PlatformNotice] = []
    for item in data.get("msg_list") or []:
        parsed = parse_item(item) if isinstance(item, dict) else None
        if isinstance(parsed, InboundMessage):
            inbound.append(parsed)
        elif isinstance(parsed, DeliveryReport):
            reports.append(parsed)
        elif isinstance(parsed, PlatformNotice):
            notices.append(parsed)
    inbound = await _with_names(ctx, config, inbound)
    inbound += await _welcomes(ctx, config, inbound)
    next_cursor = data.get("next_cursor")
    return PullPage(
        messages=inbound,
        next_cursor=next_cursor if isinstance(next_cursor, str) and next_cursor else cursor,
        has_more=data.get("has_more") == 1,
        reports=reports,
        notices=notices,
    )


async def _with_names(
    ctx: ChannelContext, config: WeComConfig, inbound: list[InboundMessage]
) -> list[InboundMessage]:
    """Nicknames and avatars from kf/customer/batchget; best effort (a message is never
    held back for a name)."""
    ids = sorted({m.contact.external_id for m in inbound})
    found: dict[str, InboundContact] = {}
    for start in range(0, len(ids), BATCHGET_MAX):
        chunk = ids[start : start + BATCHGET_MAX]
        try:
            data = await api.post_json(ctx, config, BATCHGET_PATH, {"external_userid_list": chunk})
        except DeliveryError:  # names are cosmetic; the messages matter
            return inbound
        for entry in data.get("customer_list") or []:
            contact = _contact(entry)
            if contact is not None:
                found[contact.external_id] = contact
    return [
        replace(m, contact=found[m.contact.external_id]) if m.contact.external_id in found else m
        for m in inbound
    ]


def _contact(entry: Any) -> InboundContact | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("external_userid"), str):
        return None
    name, avatar, unionid = entry.get("nickname"), entry.get("avatar"), entry.get("unionid")
    return InboundContact(
        external_id=entry["external_userid"],
        name=name if isinstance(name, str) and name else None,
        avatar_url=avatar if isinstance(avatar, str) and avatar.startswith("https://") else None,
        attributes={"unionid": unionid} if isinstance(unionid, str) and unionid else {},
    )


async def _welcomes(
    ctx: ChannelContext, config: WeComConfig, inbound: list[InboundMessage]
) -> list[InboundMessage]:
    """Greet customers whose enter_session carries a welcome_code (send_msg_on_event).

    The greeting is stored as an outbound message so the history shows it. The code is
    single-use and short-lived [doc 95122]: a failed greeting is skipped, never retried.
    """
    if not config.welcome_message:
        return []
    out = []
    for m in inbound:
        code = m.extra.get("welcome_code") if m.extra.get("event") == "enter_session" else None
        if not isinstance(code, str) or not code:
            continue
        body = {
            "code": code,
            "msgid": f"welcome_{m.external_id}"[:32],
            "msgtype": "text",
            "text": {"content": config.welcome_message},
        }
        try:
            await api.post_json(ctx, config, WELCOME_PATH, body)
        except DeliveryError:  # a missed greeting must not lose the page
            continue
        out.append(
            InboundMessage(
                external_id=f"welcome:{m.external_id}",
                contact=m.contact,
                content_type=ContentType.TEXT,
                text=config.welcome_message,
                sent_at=m.sent_at,
                direction=Direction.OUTBOUND,
                extra={"welcome": True},
                counts_as_unread=False,
            )
        )
    return out
