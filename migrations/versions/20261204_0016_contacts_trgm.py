"""contacts_trgm: the customers list's trigram index on SQLite (issue 15)

An FTS5 trigram table over contacts.search_text, kept by triggers, so a search of 3
or more characters that matches few customers reads them from the index instead of
walking every contact (app/searchindex/contacts.py). PostgreSQL has its pg_trgm GIN
index (0014cust) and changes nothing. Built from the existing contacts in place
('rebuild'): about a second per 100,000 customers.

Revision ID: 0016trgm
Revises: 0014cust
Create Date: 2026-12-04 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.searchindex import contacts

revision: str = "0016trgm"
down_revision: str | None = "0014cust"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in contacts.DDL:
        op.execute(sa.text(statement))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in contacts.DROP:
        op.execute(sa.text(statement))
