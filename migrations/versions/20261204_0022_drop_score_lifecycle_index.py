"""drop ix_retention_scores_lifecycle_contact_id (issue 15)

The customers list's lifecycle filter reads `contacts.standing` (0020standing) in list
order; nothing reads the scores by lifecycle any more, and the index cost every score
write that changed a lifecycle. Dropping it is instant.

Revision ID: 0022scoreidx
Revises: 0020standing
Create Date: 2026-12-04 14:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022scoreidx"
down_revision: str | None = "0020standing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_retention_scores_lifecycle_contact_id", table_name="retention_scores")


def downgrade() -> None:
    op.create_index(
        "ix_retention_scores_lifecycle_contact_id",
        "retention_scores",
        ["lifecycle", "contact_id"],
    )
