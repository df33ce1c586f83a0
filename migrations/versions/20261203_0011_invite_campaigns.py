"""campaigns, campaign_invitees, campaign_transitions: invitation campaigns (issue 18)

Revision ID: 0010invite
Revises: 0007sec
Create Date: 2026-12-03 16:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010invite"
down_revision: str | None = "0007sec"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_campaigns_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index(op.f("ix_campaigns_starts_at"), "campaigns", ["starts_at"], unique=False)
    op.create_table(
        "campaign_invitees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("segment", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("invite_task_id", sa.Integer(), nullable=True),
        sa.Column("remind_task_id", sa.Integer(), nullable=True),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"], ["users.id"], name=op.f("fk_campaign_invitees_added_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_invitees_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_campaign_invitees_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["invite_task_id"], ["tasks.id"], name=op.f("fk_campaign_invitees_invite_task_id_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["remind_task_id"], ["tasks.id"], name=op.f("fk_campaign_invitees_remind_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_invitees")),
        sa.UniqueConstraint(
            "campaign_id", "contact_id", name=op.f("uq_campaign_invitees_campaign_id_contact_id")
        ),
    )
    op.create_index(
        "ix_campaign_invitees_contact_id", "campaign_invitees", ["contact_id"], unique=False
    )
    op.create_table(
        "campaign_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invitee_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_campaign_transitions_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["invitee_id"],
            ["campaign_invitees.id"],
            name=op.f("fk_campaign_transitions_invitee_id_campaign_invitees"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_transitions")),
    )
    op.create_index(
        "ix_campaign_transitions_invitee_id", "campaign_transitions", ["invitee_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_transitions_invitee_id", table_name="campaign_transitions")
    op.drop_table("campaign_transitions")
    op.drop_index("ix_campaign_invitees_contact_id", table_name="campaign_invitees")
    op.drop_table("campaign_invitees")
    op.drop_index(op.f("ix_campaigns_starts_at"), table_name="campaigns")
    op.drop_table("campaigns")
