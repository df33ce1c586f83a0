"""conversation_facts' customer-message counts kept by a trigger on messages (issue 16)

The count and the first customer message's time were one upsert per ingest batch from
Python; a trigger keeps them inside the messages' INSERT instead
(app/service/inbound_counts.py). Existing facts rows are already up to date: creating
the trigger reads no rows (instant on any install).

Revision ID: 0020facts
Revises: 0019life
Create Date: 2026-12-04 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.service import inbound_counts

revision: str = "0020facts"
down_revision: str | None = "0019life"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for statement in inbound_counts.CREATE[op.get_bind().dialect.name]:
        op.execute(sa.text(statement))


def downgrade() -> None:
    for statement in inbound_counts.DROP[op.get_bind().dialect.name]:
        op.execute(sa.text(statement))
