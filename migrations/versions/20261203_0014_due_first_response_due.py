"""conversations.first_response_due_at: when a waiting conversation becomes overdue (issue 16)

The inbox marks and counts a conversation whose first response is late against its
channel's target counted in business hours; the deadline is computed once, when the
conversation opens (app/service/actions/facts.py). Conversations already waiting get
their creation time plus the channel's target (wall clock: their business-hours deadline
would need each channel's schedule and the holiday calendar, which a migration does not
load); a reply or resolution ends the wait as before.

Revision ID: 0014due
Revises: 0010retain
Create Date: 2026-12-03 19:20:00
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "0014due"
down_revision: str | None = "0010retain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_FIRST_RESPONSE_MINUTES = 5  # app/service/settings.py at this revision


def upgrade() -> None:
    op.add_column(
        "conversations",
        sa.Column(
            "first_response_due_at", app.models.base.UTCDateTime(timezone=True), nullable=True
        ),
    )
    op.create_index(
        "ix_conversations_first_response_due_at", "conversations", ["first_response_due_at"]
    )
    conversations = sa.table(
        "conversations",
        sa.column("id", sa.Integer),
        sa.column("channel_id", sa.Integer),
        sa.column("status", sa.String),
        sa.column("created_at", app.models.base.UTCDateTime(timezone=True)),
        sa.column("first_response_at", app.models.base.UTCDateTime(timezone=True)),
        sa.column("first_response_due_at", app.models.base.UTCDateTime(timezone=True)),
    )
    settings = sa.table(
        "service_settings",
        sa.column("channel_id", sa.Integer),
        sa.column("first_response_minutes", sa.Integer),
    )
    bind = op.get_bind()
    minutes = {
        channel_id: m or DEFAULT_FIRST_RESPONSE_MINUTES
        for channel_id, m in bind.execute(
            sa.select(settings.c.channel_id, settings.c.first_response_minutes)
        )
    }
    waiting = bind.execute(
        sa.select(conversations.c.id, conversations.c.channel_id, conversations.c.created_at).where(
            conversations.c.status != "resolved", conversations.c.first_response_at.is_(None)
        )
    ).all()
    for conv_id, channel_id, created_at in waiting:
        due = created_at + timedelta(
            minutes=minutes.get(channel_id, DEFAULT_FIRST_RESPONSE_MINUTES)
        )
        bind.execute(
            sa.update(conversations)
            .where(conversations.c.id == conv_id)
            .values(first_response_due_at=due)
        )


def downgrade() -> None:
    op.drop_index("ix_conversations_first_response_due_at", table_name="conversations")
    op.drop_column("conversations", "first_response_due_at")
