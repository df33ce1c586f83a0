"""webhook_nonces: signed push parameters seen within the push window (replay refusal)

Revision ID: 0007sec
Revises: 0007strings
Create Date: 2026-12-03 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime

revision: str = "0007sec"
down_revision: str | None = "0007strings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_nonces",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("seen_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_webhook_nonces_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("channel_id", "key", name=op.f("pk_webhook_nonces")),
    )
    op.create_index(op.f("ix_webhook_nonces_seen_at"), "webhook_nonces", ["seen_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_nonces_seen_at"), table_name="webhook_nonces")
    op.drop_table("webhook_nonces")
