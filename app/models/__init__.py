"""SQLAlchemy models, one module per aggregate; importing this registers them all."""

from app.models.accounts import ApiToken, Role, User, UserChannel
from app.models.base import Base
from app.models.base import utcnow as utcnow_for_models
from app.models.campaigns import (
    Campaign,
    CampaignInvitee,
    CampaignTaskKind,
    CampaignTransition,
    InviteeState,
)
from app.models.channels import Channel
from app.models.contacts import Contact, ContactIdentity
from app.models.crm import (
    ContactMerge,
    HolidayDay,
    Order,
    OrderItem,
    Task,
    TaskKind,
    TaskStatus,
)
from app.models.events import AuditLog, EventLog
from app.models.inbox import (
    Conversation,
    ConversationStatus,
    DeliveryJob,
    DeliveryStatus,
    JobStatus,
    Message,
    SenderType,
)
from app.models.ingest import WebhookNonce
from app.models.presence import AgentPresence
from app.models.pulls import PullCursor
from app.models.retention import ChurnDay, ChurnDayMark, ChurnDayOrder, RetentionScore
from app.models.service import ConversationFacts, ServiceSettings
from app.models.web import CannedReply, ContactTag, LoginFailure, WebSession

__all__ = [
    "AgentPresence",
    "ApiToken",
    "AuditLog",
    "Base",
    "CannedReply",
    "ContactTag",
    "LoginFailure",
    "WebSession",
    "utcnow_for_models",
    "Campaign",
    "CampaignInvitee",
    "CampaignTaskKind",
    "CampaignTransition",
    "InviteeState",
    "Channel",
    "Contact",
    "ContactIdentity",
    "ChurnDay",
    "ChurnDayMark",
    "ChurnDayOrder",
    "ContactMerge",
    "ConversationFacts",
    "ServiceSettings",
    "HolidayDay",
    "Order",
    "OrderItem",
    "Task",
    "TaskKind",
    "TaskStatus",
    "Conversation",
    "ConversationStatus",
    "DeliveryJob",
    "DeliveryStatus",
    "EventLog",
    "JobStatus",
    "Message",
    "PullCursor",
    "RetentionScore",
    "Role",
    "SenderType",
    "User",
    "UserChannel",
    "WebhookNonce",
]
