"""Service quality: conversation_facts (what reports read) and service_settings per channel

Existing conversations get their facts from their messages once, here (counts, first
response, resolution); after this the inbox's actions keep them up to date.

Revision ID: 0010svc
Revises: 0010invite
Create Date: 2026-12-03 16:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models.base import JSONType, UTCDateTime

revision: str = "0010svc"
down_revision: str | None = "0010invite"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_facts",
        sa.Column("conversation_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("first_inbound_at", UTCDateTime(), nullable=True),
        sa.Column("messages_in", sa.Integer(), nullable=False),
        sa.Column("messages_out", sa.Integer(), nullable=False),
        sa.Column("first_response_at", UTCDateTime(), nullable=True),
        sa.Column("first_response_s", sa.Integer(), nullable=True),
        sa.Column("first_response_business_s", sa.Integer(), nullable=True),
        sa.Column("first_response_agent_id", sa.Integer(), nullable=True),
        sa.Column("last_agent_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("resolution_s", sa.Integer(), nullable=True),
        sa.Column("csat_asked_at", UTCDateTime(), nullable=True),
        sa.Column("csat_score", sa.Integer(), nullable=True),
        sa.Column("csat_comment", sa.Text(), nullable=True),
        sa.Column("csat_rated_at", UTCDateTime(), nullable=True),
        sa.Column("csat_agent_id", sa.Integer(), nullable=True),
        sa.Column("greeted", sa.Boolean(), nullable=False),
        sa.Column("away_sent", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_facts_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversation_facts")),
    )
    op.create_index(
        "ix_conversation_facts_created_at", "conversation_facts", ["created_at"], unique=False
    )
    op.create_table(
        "service_settings",
        sa.Column("channel_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("business_hours", JSONType, nullable=True),
        sa.Column("holidays", JSONType, nullable=False),
        sa.Column("away_message", sa.Text(), nullable=False),
        sa.Column("greeting", sa.Text(), nullable=False),
        sa.Column("csat_enabled", sa.Boolean(), nullable=False),
        sa.Column("csat_question", sa.Text(), nullable=False),
        sa.Column("first_response_minutes", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_service_settings_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_service_settings")),
    )
    _backfill()


def _backfill() -> None:
    """Facts for the conversations that have a customer message or an agent reply."""
    m = sa.table(
        "messages",
        sa.column("conversation_id", sa.Integer),
        sa.column("direction", sa.String),
        sa.column("private", sa.Boolean),
        sa.column("sender_type", sa.String),
        sa.column("content_type", sa.String),
        sa.column("created_at", UTCDateTime()),
    )
    c = sa.table(
        "conversations",
        sa.column("id", sa.Integer),
        sa.column("channel_id", sa.Integer),
        sa.column("created_at", UTCDateTime()),
        sa.column("first_response_at", UTCDateTime()),
        sa.column("resolved_at", UTCDateTime()),
        sa.column("assignee_id", sa.Integer),
    )
    inbound = sa.and_(m.c.direction == "inbound", m.c.content_type != "event")
    reply = sa.and_(
        m.c.direction == "outbound", m.c.sender_type == "user", m.c.private.is_(False)
    )
    counts = (
        sa.select(
            m.c.conversation_id,
            sa.func.sum(sa.case((inbound, 1), else_=0)).label("n_in"),
            sa.func.sum(sa.case((reply, 1), else_=0)).label("n_out"),
            sa.func.min(sa.case((inbound, m.c.created_at), else_=None)).label("first_in"),
        )
        .group_by(m.c.conversation_id)
        .subquery()
    )
    facts = sa.table(
        "conversation_facts",
        *(
            sa.column(name)
            for name in (
                "conversation_id", "channel_id", "created_at", "first_inbound_at",
                "messages_in", "messages_out", "first_response_at",
                "first_response_agent_id", "resolved_at", "greeted", "away_sent",
            )
        ),
    )
    select = (
        sa.select(
            c.c.id,
            c.c.channel_id,
            c.c.created_at,
            counts.c.first_in,
            counts.c.n_in,
            counts.c.n_out,
            c.c.first_response_at,
            c.c.assignee_id,
            c.c.resolved_at,
            sa.false(),
            sa.false(),
        )
        .select_from(c.join(counts, counts.c.conversation_id == c.c.id))
        .where(sa.or_(counts.c.n_in > 0, counts.c.n_out > 0))
    )
    op.execute(facts.insert().from_select([col.name for col in facts.columns], select))


def downgrade() -> None:
    op.drop_table("service_settings")
    op.drop_index("ix_conversation_facts_created_at", table_name="conversation_facts")
    op.drop_table("conversation_facts")
