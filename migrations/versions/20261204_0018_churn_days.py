"""churn_days: each customer's interaction days for the churn report (issue 17)

The churn report derived every customer's China days from all messages and orders on
each request (seconds at 1M messages). `churn_days` keeps them (with the next day, the
channel so far and the spend so far), `churn_hard` the customers with a hard churn
event, `churn_day_orders` whose days each order is counted in, `churn_day_marks` what
the last refreshes had seen (app/retention/churn_days.py). Backfilled by 0020churn2; orders get
an index on `updated_at` (the refresh reads the orders changed since).

Revision ID: 0016churn
Revises: 0016rep
Create Date: 2026-12-04 01:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime

revision: str = "0016churn"
down_revision: str | None = "0016rep"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "churn_days",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("next_day", sa.Integer(), nullable=True),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("cents", sa.BigInteger(), nullable=False),
        sa.Column("cum", sa.BigInteger(), nullable=False),
        sa.Column("year_before", sa.BigInteger(), nullable=False),
        sa.Column("year_order_day", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("contact_id", "day"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "churn_day_orders",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_table(
        "churn_hard",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("contact_id"),
    )
    op.create_table(
        "churn_day_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_orders_updated_at", "orders", ["updated_at"])
    bind = op.get_bind()
    # The mark first: what the backfill reads is at least what it says (the app is down).
    top = bind.execute(
        sa.text("SELECT (SELECT MAX(id) FROM messages), (SELECT MAX(id) FROM audit_log)")
    ).one()
    marks = sa.table(
        "churn_day_marks",
        sa.column("at", UTCDateTime()),
        sa.column("message_id", sa.Integer()),
        sa.column("audit_id", sa.Integer()),
    )
    op.bulk_insert(
        marks, [{"at": datetime.now(UTC), "message_id": top[0] or 0, "audit_id": top[1] or 0}]
    )
    # The backfill is 0020churn2's (the days gained a column there; the statements
    # that write them are today's).
    op.create_index(
        "ix_churn_days_day",
        "churn_days",
        ["day", "next_day", "contact_id", "channel_id", "cum", "year_before", "year_order_day"],
    )
    op.create_index(
        "ix_churn_days_next_day",
        "churn_days",
        ["next_day", "day", "contact_id", "channel_id"],
    )
    op.execute("ANALYZE churn_days")
    op.execute("ANALYZE churn_hard")


def downgrade() -> None:
    op.drop_index("ix_orders_updated_at", table_name="orders")
    op.drop_table("churn_day_marks")
    op.drop_table("churn_hard")
    op.drop_table("churn_day_orders")
    op.drop_table("churn_days")
