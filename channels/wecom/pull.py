"""The `kf/sync_msg` pull loop (channels.md §3 "Pull").

After a notice, pages are pulled with the notice's Token and the cursor stored per
open_kfid, `limit` 1000, while `has_more` is 1 (a page may be empty and still say
has_more 1). Each page is handed to the caller together with the cursor that follows
it, so the caller stores the page's messages and that cursor in one transaction: a
crash between pages re-reads at most the page that was not committed, and the
msgid dedupe makes that harmless. The caller holds the channel's pull lock, so two
notices never pull the same page twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from channels.base import (
    ChannelContext,
    ContentType,
    DeliveryError,
    Direction,
    InboundContact,
    InboundMessage,
)
from channels.wecom import api
from channels.wecom.config import WeComConfig
from channels.wecom.messages import SendFailure, StaffNotice, parse_item

SYNC_PATH = "/cgi-bin/kf/sync_msg"
BATCHGET_PATH = "/cgi-bin/kf/customer/batchget"
WELCOME_PATH = "/cgi-bin/kf/send_msg_on_event"
# limit: the default and the maximum of sync_msg (§3).
PAGE_LIMIT = 1000
# batchget takes at most 100 external_userid per call [doc 95159].
BATCHGET_MAX = 100
# A broken platform that says has_more forever must not pin a worker: after this many
# pages the loop stops; the next notice or catch-up continues from the stored cursor.
MAX_PAGES = 200
# The channel-state key: open_kfid -> next_cursor.
CURSORS_KEY = "wecom_cursors"


@dataclass
class Page:
    """One sync_msg page, parsed; `state` holds the cursor to save with its messages."""

    open_kfid: str
    messages: list[InboundMessage] = field(default_factory=list)
    failures: list[SendFailure] = field(default_factory=list)
    notices: list[StaffNotice] = field(default_factory=list)
    cursor: str = ""
    has_more: bool = False


def cursor_of(state: Mapping[str, Any], open_kfid: str) -> str:
    cursors = state.get(CURSORS_KEY)
    value = cursors.get(open_kfid) if isinstance(cursors, dict) else None
    return value if isinstance(value, str) else ""


def with_cursor(state: dict[str, Any], open_kfid: str, cursor: str) -> dict[str, Any]:
    """The state with `cursor` stored for `open_kfid` (a copy)."""
    cursors = dict(state.get(CURSORS_KEY) or {})
    cursors[open_kfid] = cursor
    return {**state, CURSORS_KEY: cursors}


async def pages(
    ctx: ChannelContext, config: WeComConfig, open_kfid: str, token: str | None, cursor: str
) -> AsyncIterator[Page]:
    """Pull from `cursor` until has_more is 0; raises DeliveryError on a platform error."""
    for _ in range(MAX_PAGES):
        body: dict[str, Any] = {"cursor": cursor, "limit": PAGE_LIMIT, "open_kfid": open_kfid}
        if token:
            # Without the notice's Token sync_msg is strictly rate-limited (§3).
            body["token"] = token
        data = await api.post_json(ctx, config, SYNC_PATH, body)
        page = Page(open_kfid=open_kfid, has_more=data.get("has_more") == 1)
        next_cursor = data.get("next_cursor")
        page.cursor = next_cursor if isinstance(next_cursor, str) and next_cursor else cursor
        for item in data.get("msg_list") or []:
            if not isinstance(item, dict):
                continue
            parsed = parse_item(item)
            if isinstance(parsed, InboundMessage):
                page.messages.append(parsed)
            elif isinstance(parsed, SendFailure):
                page.failures.append(parsed)
            elif isinstance(parsed, StaffNotice):
                page.notices.append(parsed)
        page.messages = await _with_names(ctx, config, page.messages)
        page.messages += await _welcomes(ctx, config, page.messages)
        yield page
        if not page.has_more:
            return
        cursor = page.cursor


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
            if isinstance(entry, dict) and isinstance(entry.get("external_userid"), str):
                uid = entry["external_userid"]
                name = entry.get("nickname")
                avatar = entry.get("avatar")
                attrs = {"unionid": entry["unionid"]} if entry.get("unionid") else {}
                found[uid] = InboundContact(
                    external_id=uid,
                    name=name if isinstance(name, str) and name else None,
                    avatar_url=avatar if isinstance(avatar, str) and avatar else None,
                    attributes=attrs,
                )
    out = []
    for m in inbound:
        contact = found.get(m.contact.external_id)
        out.append(_replace_contact(m, contact) if contact else m)
    return out


def _replace_contact(m: InboundMessage, contact: InboundContact) -> InboundMessage:
    return replace(m, contact=contact)


async def _welcomes(
    ctx: ChannelContext, config: WeComConfig, inbound: list[InboundMessage]
) -> list[InboundMessage]:
    """Greet customers whose enter_session carries a welcome_code (send_msg_on_event).

    The greeting is returned as an outbound message so the history shows it. The code
    is single-use and valid briefly [doc 95122]: a failed greeting is only logged there.
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
