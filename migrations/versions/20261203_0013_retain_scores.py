"""retention_scores: each customer's risk, factors, trend, tier and lifecycle (issue 17)

Revision ID: 0010retain
Revises: 0010svc
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010retain"
down_revision: str | None = "0010svc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "retention_scores",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=10), nullable=False),
        sa.Column("factors", JSON, nullable=False),
        sa.Column("history", JSON, nullable=False),
        sa.Column("lifecycle", sa.String(length=20), nullable=False),
        sa.Column("tier", sa.String(length=30), nullable=True),
        sa.Column("high_value", sa.Boolean(), nullable=False),
        sa.Column("spend_365", sa.String(length=20), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_retention_scores_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_retention_scores")),
    )
    op.create_index(
        "ix_retention_scores_score_contact_id", "retention_scores", ["score", "contact_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_retention_scores_score_contact_id", table_name="retention_scores")
    op.drop_table("retention_scores")
