"""What a platform tells us besides customer messages, stored with the messages.

- Delivery reports: a reply the platform accepted and later could not deliver (WeCom's
  msg_send_fail) is marked `failed` with the platform's reason, and `message.updated`
  is published, so the agent sees it like an immediate refusal.
- Platform notices: notifications about the account rather than a conversation (a
  template or mass send finished, a servicer went offline) go to the channel's log,
  the append-only audit log with the channel as object, not into any chat.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import record_audit
from app.inbox.actions.events import publish_message
from app.models import AuditLog, Channel, DeliveryJob, DeliveryStatus, Message
from app.realtime.events import EventType
from channels.base import DeliveryReport, Direction, PlatformNotice

NOTICE_ACTION = "channel.platform_notice"
# Platforms retry within minutes; the last few hundred lines of a channel's log cover that.
RECENT_NOTICES = 500


async def apply_delivery_reports(
    session: AsyncSession, channel: Channel, reports: Sequence[DeliveryReport]
) -> int:
    """Mark each reported outbound message failed (once); the number changed."""
    changed = 0
    for report in reports:
        message = await session.scalar(
            select(Message)
            .outerjoin(DeliveryJob, DeliveryJob.message_id == Message.id)
            .where(
                Message.channel_id == channel.id,
                Message.direction == Direction.OUTBOUND,
                or_(
                    Message.external_id == report.external_id,
                    DeliveryJob.idempotency_key == report.external_id,
                ),
            )
            .limit(1)
        )
        if message is None or message.delivery_status == DeliveryStatus.FAILED:
            continue  # not ours (sent from elsewhere) or already recorded: a retried page
        message.delivery_status = DeliveryStatus.FAILED
        message.error = report.reason
        publish_message(session, message, EventType.MESSAGE_UPDATED)
        changed += 1
    return changed


async def record_platform_notices(
    session: AsyncSession, channel: Channel, notices: Sequence[PlatformNotice]
) -> None:
    """Append each notice to the channel's log, once per platform key (a retried push or a
    re-read page is not logged twice)."""
    if not notices:
        return
    recent = await session.scalars(
        select(AuditLog.details)
        .where(
            AuditLog.action == NOTICE_ACTION,
            AuditLog.object_type == "channel",
            AuditLog.object_id == str(channel.id),
        )
        .order_by(AuditLog.id.desc())
        .limit(RECENT_NOTICES)
    )
    seen = {str(d.get("key")) for d in recent if isinstance(d, dict) and d.get("key")}
    for notice in notices:
        details = {"event": notice.event, "text": notice.text, **dict(notice.detail)}
        key = details.get("key")
        if key:
            if str(key) in seen:
                continue
            seen.add(str(key))
        record_audit(session, None, NOTICE_ACTION, "channel", channel.id, details)
