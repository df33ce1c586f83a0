"""A demo invitation campaign for `huiliu serve --demo`: an upcoming member day with an
invitee in every state, and the team's `邀约` canned reply the invite tasks suggest.

Runs once (it looks for its own title), after the demo's channels and customers exist.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select

from app.accounts.viewer import Viewer
from app.campaigns.actions import add_invitees, create_campaign, move_invitee
from app.contacts.calendar import BUSINESS_TZ, today
from app.db import Database
from app.models import (
    Campaign,
    CampaignInvitee,
    CannedReply,
    Channel,
    Contact,
    ContactIdentity,
    User,
    utcnow_for_models,
)

TITLE = "会员日 · 新品品鉴会"
# Each invitee's path through the state machine (CONTRACT section 10), one per state.
PATHS: list[tuple[str, list[str]]] = [
    ("周晓琳", []),
    ("吴昊", ["contacted"]),
    ("郑雪", ["contacted", "confirmed"]),
    ("孙磊", ["contacted", "declined"]),
    ("何敏", ["contacted", "no_answer"]),
    ("马丽", ["contacted", "confirmed", "reminded"]),
    ("高峰", ["contacted", "confirmed", "reminded", "attended"]),
    ("林青", ["contacted", "confirmed", "reminded", "no_show"]),
]
INVITE_TEXT = "{name}您好！{time} 在{location}举办「{title}」，给老朋友留了座位，方便来吗？"


async def seed_campaign(db: Database) -> bool:
    """Seed once; True when it did."""
    async with db.session() as session:
        if await session.scalar(select(Campaign.id).where(Campaign.title == TITLE)):
            return False
        channel = await session.scalar(select(Channel).order_by(Channel.id).limit(1))
        user = await session.scalar(
            select(User).where(User.role == "agent", User.active.is_(True)).order_by(User.id)
        ) or await session.scalar(select(User).where(User.active.is_(True)).order_by(User.id))
        if channel is None or user is None:
            return False
        viewer = Viewer(user=user, channel_ids=None)
        now = utcnow_for_models()
        if not await session.scalar(select(CannedReply.id).where(CannedReply.shortcut == "邀约")):
            session.add(
                CannedReply(
                    owner_id=None,
                    shortcut="邀约",
                    content=INVITE_TEXT,
                    created_at=now,
                    updated_at=now,
                )
            )
        starts = datetime.combine(today() + timedelta(days=7), time(14), BUSINESS_TZ)
        campaign = await create_campaign(
            session, viewer, title=TITLE, starts_at=starts, capacity=20, location="旗舰店二楼"
        )
        contacts: list[Contact] = []
        for n, (name, _) in enumerate(PATHS):
            contact = Contact(
                name=name,
                phone=f"1390000{n + 1:04d}",
                owner_id=user.id,
                created_at=now - timedelta(days=30 * (n + 1)),
                updated_at=now,
            )
            session.add(contact)
            await session.flush()
            session.add(
                ContactIdentity(
                    contact_id=contact.id,
                    channel_id=channel.id,
                    external_id=f"demo-invitee-{n + 1}",
                    name=name,
                    created_at=contact.created_at,
                )
            )
            contacts.append(contact)
        await session.flush()
        await add_invitees(session, viewer, campaign, contacts)
        for contact, (_, steps) in zip(contacts, PATHS, strict=True):
            invitee = await session.scalar(
                select(CampaignInvitee).where(
                    CampaignInvitee.campaign_id == campaign.id,
                    CampaignInvitee.contact_id == contact.id,
                )
            )
            assert invitee is not None
            for state in steps:
                await move_invitee(session, viewer, campaign, invitee, state, None)
        return True
