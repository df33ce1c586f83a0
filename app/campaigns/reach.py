"""From an invite or remind task to the customer: the conversation to write in (a channel
whose reply window is open), with an invitation text suggested from the canned replies, or
the phone number when no window is open.

The suggestion is the canned reply whose shortcut is `邀约` (invite tasks) or `提醒`
(remind tasks), the viewer's own before the team's; `{name}`, `{title}`, `{time}` and
`{location}` in it are filled in. Without one, a plain default text is suggested.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.contacts.calendar import BUSINESS_TZ
from app.models import (
    Campaign,
    CampaignInvitee,
    CampaignTaskKind,
    CannedReply,
    Channel,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    Task,
    utcnow_for_models,
)

SHORTCUTS = {CampaignTaskKind.INVITE: "邀约", CampaignTaskKind.REMIND: "提醒"}
DEFAULTS = {
    CampaignTaskKind.INVITE: (
        "{name}您好，诚邀您参加「{title}」，时间：{time}，地点：{location}。方便来吗？"
    ),
    CampaignTaskKind.REMIND: (
        "{name}您好，提醒您明天参加「{title}」，时间：{time}，地点：{location}。期待您的到来！"
    ),
}


class ReachOut(BaseModel):
    # "open_window": write in `conversation_id` (until `until`); "closed": phone the
    # customer; "unreachable": unsubscribed everywhere (phone, if there is a number).
    reach: str
    conversation_id: int | None
    channel: str | None
    until: datetime | None
    phone: str | None
    suggested_text: str | None
    campaign_id: int | None


async def _suggestion(
    session: AsyncSession, viewer: Viewer, task: Task, contact: Contact
) -> tuple[str | None, int | None]:
    invitee = await session.scalar(
        select(CampaignInvitee).where(
            or_(
                CampaignInvitee.invite_task_id == task.id, CampaignInvitee.remind_task_id == task.id
            )
        )
    )
    if invitee is None or task.kind not in SHORTCUTS:
        return None, None
    campaign = await session.get(Campaign, invitee.campaign_id)
    assert campaign is not None
    kind = CampaignTaskKind(task.kind)
    canned = await session.scalar(
        select(CannedReply.content)
        .where(
            CannedReply.shortcut == SHORTCUTS[kind],
            or_(CannedReply.owner_id.is_(None), CannedReply.owner_id == viewer.id),
        )
        .order_by(CannedReply.owner_id.is_(None), CannedReply.id)
        .limit(1)
    )
    text = canned or DEFAULTS[kind]
    values = {
        "{name}": contact.name,
        "{title}": campaign.title,
        "{time}": campaign.starts_at.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M"),
        "{location}": campaign.location or "-",
    }
    # One pass, so a customer's name containing "{title}" is not expanded again.
    out, i = [], 0
    while i < len(text):
        for key, value in values.items():
            if text.startswith(key, i):
                out.append(value)
                i += len(key)
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out), campaign.id


async def reach_for_task(session: AsyncSession, viewer: Viewer, task: Task) -> ReachOut:
    contact = await session.get(Contact, task.contact_id)
    assert contact is not None
    text, campaign_id = await _suggestion(session, viewer, task, contact)
    stmt = (
        select(Conversation, Channel)
        .join(Channel, Channel.id == Conversation.channel_id)
        .join(ContactIdentity, ContactIdentity.id == Conversation.identity_id)
        .where(
            Conversation.contact_id == contact.id,
            Conversation.status != ConversationStatus.RESOLVED,
            Conversation.reply_window_expires_at > utcnow_for_models(),
            ContactIdentity.unreachable.is_(False),
        )
        .order_by(Conversation.reply_window_expires_at.desc())
    )
    clause = viewer.channel_clause(Conversation.channel_id)
    if clause is not None:
        stmt = stmt.where(clause)
    found = (await session.execute(stmt.limit(1))).first()
    if found is not None:
        conv, channel = found
        return ReachOut(
            reach="open_window",
            conversation_id=conv.id,
            channel=channel.name,
            until=conv.reply_window_expires_at,
            phone=contact.phone,
            suggested_text=text,
            campaign_id=campaign_id,
        )
    reachable = await session.scalar(
        select(ContactIdentity.id)
        .where(ContactIdentity.contact_id == contact.id, ContactIdentity.unreachable.is_(False))
        .limit(1)
    )
    return ReachOut(
        reach="closed" if reachable is not None else "unreachable",
        conversation_id=None,
        channel=None,
        until=None,
        phone=contact.phone,
        suggested_text=text,
        campaign_id=campaign_id,
    )
