"""churn_days.hard_day: customers with a hard churn event counted in SQL too (issue 17)

The churn report counted the customers with a hard churn event (`churn_hard`, about a
thousand at 100,000 customers) with the definitions over their whole histories, a
quarter of the report's time. `churn_days.hard_day` (app/retention/churn_days.py) keeps
what their hard churn events decide per day, so every customer is counted in SQL and
`churn_hard` goes. Every customer's days are rebuilt here (the application stopped):
at 100,000 customers and 1,000,000 messages, seconds (README, Benchmarks).

Revision ID: 0020churn2
Revises: 0022scoreidx
Create Date: 2026-12-04 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.retention.churn_days import rebuild_statements

revision: str = "0020churn2"
down_revision: str | None = "0022scoreidx"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAY_COLUMNS = ["day", "next_day", "contact_id", "channel_id", "cum", "year_before"]


def upgrade() -> None:
    op.drop_index("ix_churn_days_day", table_name="churn_days")
    op.add_column("churn_days", sa.Column("hard_day", sa.Integer(), nullable=True))
    op.drop_table("churn_hard")
    bind = op.get_bind()
    for sql in rebuild_statements(bind.dialect.name, None):
        op.execute(sa.text(sql))
    # Made after the rebuild: one sort instead of one insert each.
    op.create_index(
        "ix_churn_days_day", "churn_days", [*DAY_COLUMNS, "year_order_day", "hard_day"]
    )
    op.create_index(
        "ix_churn_days_hard_day",
        "churn_days",
        ["hard_day", "day", "next_day", "contact_id", "cum"],
        sqlite_where=sa.text("hard_day IS NOT NULL"),
        postgresql_where=sa.text("hard_day IS NOT NULL"),
    )
    op.execute("ANALYZE churn_days")


def downgrade() -> None:
    op.drop_index("ix_churn_days_hard_day", table_name="churn_days")
    op.drop_index("ix_churn_days_day", table_name="churn_days")
    op.drop_column("churn_days", "hard_day")
    op.create_table(
        "churn_hard",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("contact_id"),
    )
    # What the previous code kept there: every customer with a hard churn event.
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        hard = "(m.extra->>'event' = 'unsubscribe' OR m.extra->>'churn' = 'hard')"
        mark = "a.details->>'to' = 'lost' AND a.object_id ~ '^[0-9]{1,9}$'"
    else:
        hard = (
            "(json_extract(m.extra, '$.event') = 'unsubscribe'"
            " OR json_extract(m.extra, '$.churn') = 'hard')"
        )
        mark = (
            "json_extract(a.details, '$.to') = 'lost' AND a.object_id NOT GLOB '*[^0-9]*'"
            " AND length(a.object_id) BETWEEN 1 AND 9"
        )
    op.execute(
        "INSERT INTO churn_hard (contact_id) SELECT DISTINCT cv.contact_id FROM messages m"  # noqa: S608
        " JOIN conversations cv ON cv.id = m.conversation_id"
        f" WHERE m.direction = 'inbound' AND m.content_type = 'event' AND {hard}"
        " UNION SELECT DISTINCT CAST(x.object_id AS INTEGER) FROM (SELECT a.object_id"
        " FROM audit_log a WHERE a.action = 'contact.lifecycle_changed'"
        f" AND a.object_type = 'contact' AND {mark}) x"
    )
    op.create_index("ix_churn_days_day", "churn_days", [*DAY_COLUMNS, "year_order_day"])
