"""The customers list's substring index on SQLite: an FTS5 trigram table over
`contacts.search_text`, kept by triggers in the same transaction as the contact.

PostgreSQL answers `search_text LIKE '%...%'` with pg_trgm's GIN index (migration
0014cust). SQLite has no such index: the list walked its recency index and read each
contact's text, so a search matching few customers (an order number, a miss) walked
all of them, 50-165 ms p50 at 100,000 customers. SQLite's own FTS5 `trigram` tokenizer
(3.34+) answers LIKE with 3 or more characters from its index; shorter terms and terms
holding LIKE's wildcards keep the walk (a term of 1-2 characters is common enough that
the walk meets a page of matches early).

The table is external-content (`content='contacts'`): it stores only the index, and
reads the text back from `contacts` by rowid. Like the message index it lives outside
the ORM metadata (`is_index_table` tells Alembic's comparison to leave it alone).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

TABLE = "contacts_trgm"
MIN_CHARS = 3  # a trigram index answers substrings of at least three characters
# More candidates than this and the term is common: walking the recency index meets a
# page of matches sooner than sorting them all would.
MAX_CANDIDATES = 1000

# Spelled out (TABLE is this name): the statements are constants, not built from input.
_INDEX = "INSERT INTO contacts_trgm(rowid, search_text) VALUES (new.id, new.search_text)"
_UNINDEX = (
    "INSERT INTO contacts_trgm(contacts_trgm, rowid, search_text)"
    " VALUES ('delete', old.id, old.search_text)"
)
DDL = (
    "CREATE VIRTUAL TABLE contacts_trgm USING fts5("
    "search_text, content='contacts', content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER contacts_trgm_ai AFTER INSERT ON contacts BEGIN {_INDEX}; END",
    f"CREATE TRIGGER contacts_trgm_ad AFTER DELETE ON contacts BEGIN {_UNINDEX}; END",
    # Only the indexed fields: the list's own updates (last interaction, owner) are free.
    "CREATE TRIGGER contacts_trgm_au AFTER UPDATE OF name, phone, email ON contacts "
    f"BEGIN {_UNINDEX}; {_INDEX}; END",
    "INSERT INTO contacts_trgm(contacts_trgm) VALUES ('rebuild')",
)
DROP = (
    "DROP TRIGGER IF EXISTS contacts_trgm_au",
    "DROP TRIGGER IF EXISTS contacts_trgm_ad",
    "DROP TRIGGER IF EXISTS contacts_trgm_ai",
    "DROP TABLE IF EXISTS contacts_trgm",
)


def is_index_table(name: str | None) -> bool:
    """FTS5's shadow tables (contacts_trgm_data, ...) belong to the index too."""
    return bool(name) and (name == TABLE or str(name).startswith(TABLE + "_"))


def usable(term: str) -> bool:
    return len(term) >= MIN_CHARS and not any(c in term for c in "%_\\")


async def candidates(session: AsyncSession, term: str) -> list[int] | None:
    """The ids of the contacts whose search_text contains `term` case-insensitively
    (a superset of the list's ILIKE: the trigram tokenizer folds case beyond ASCII), or
    None when there are more than MAX_CANDIDATES. `term` must be `usable`."""
    rows = await session.execute(
        text("SELECT rowid FROM contacts_trgm WHERE search_text LIKE lower(:p) LIMIT :n"),
        {"p": f"%{term}%", "n": MAX_CANDIDATES + 1},
    )
    ids = [r[0] for r in rows]
    return None if len(ids) > MAX_CANDIDATES else ids
