"""The service facts' customer-message counts, kept by the database as messages are stored.

`conversation_facts.messages_in` (customer messages, not lifecycle events) and
`first_inbound_at` (the first one's time) change with every stored customer message.
They were one upsert per ingest batch sent from Python, and that statement (its
parameters bound row by row, one more round trip) was most of what the facts' upkeep
cost ingest (issue 16: at most 5 %; it measured 4-7 % of the batch's CPU on SQLite). A
trigger on `messages` does the same counting inside the messages' own INSERT, in the
same transaction, whoever stores the message:

- SQLite: a row trigger (SQLite has no statement triggers) upserting the conversation's
  facts row, reading the channel and start from the conversation's row;
- PostgreSQL: a statement trigger over the inserted rows (a transition table), one
  grouped upsert per INSERT, so a batch costs one statement whatever its size.

A row the INSERT skips (`ON CONFLICT DO NOTHING`: a retried push) fires nothing, so a
message counts exactly once. Everything else on the facts row (replies, first response,
resolution, ratings, greeting) is written by the actions in `app/service/actions/`.
Bulk writers of history that write whole facts rows themselves (the demo's week of
history writes facts before its messages; the bench seeders) drop the trigger while they
write (`DROP`) and create it again (`CREATE`).
"""

from __future__ import annotations

# Spelled out: constants, never built from input. Values as the ORM stores them:
# direction 'inbound', content type 'event' for lifecycle events (channels/base.py).
_SQLITE = (
    "CREATE TRIGGER messages_count_inbound AFTER INSERT ON messages"
    " WHEN new.direction = 'inbound' AND new.content_type <> 'event' BEGIN"
    " INSERT INTO conversation_facts (conversation_id, channel_id, created_at,"
    " first_inbound_at, messages_in, messages_out, greeted, away_sent)"
    " SELECT c.id, c.channel_id, c.created_at, new.created_at, 1, 0, 0, 0"
    " FROM conversations c WHERE c.id = new.conversation_id"
    " ON CONFLICT (conversation_id) DO UPDATE SET"
    " messages_in = conversation_facts.messages_in + 1,"
    " first_inbound_at = coalesce(conversation_facts.first_inbound_at,"
    " excluded.first_inbound_at);"
    " END",
)
_POSTGRESQL = (
    "CREATE FUNCTION messages_count_inbound() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    " INSERT INTO conversation_facts (conversation_id, channel_id, created_at,"
    " first_inbound_at, messages_in, messages_out, greeted, away_sent)"
    " SELECT c.id, c.channel_id, c.created_at, n.first_at, n.n, 0, false, false"
    " FROM (SELECT conversation_id, min(created_at) AS first_at, count(*) AS n"
    " FROM inserted WHERE direction = 'inbound' AND content_type <> 'event'"
    " GROUP BY conversation_id) n"
    " JOIN conversations c ON c.id = n.conversation_id"
    " ORDER BY c.id"  # one lock order for concurrent batches
    " ON CONFLICT (conversation_id) DO UPDATE SET"
    " messages_in = conversation_facts.messages_in + excluded.messages_in,"
    " first_inbound_at = coalesce(conversation_facts.first_inbound_at,"
    " excluded.first_inbound_at);"
    " RETURN NULL;"
    " END $$",
    "CREATE TRIGGER messages_count_inbound AFTER INSERT ON messages"
    " REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT"
    " EXECUTE FUNCTION messages_count_inbound()",
)
CREATE = {"sqlite": _SQLITE, "postgresql": _POSTGRESQL}
DROP = {
    "sqlite": ("DROP TRIGGER IF EXISTS messages_count_inbound",),
    "postgresql": (
        "DROP TRIGGER IF EXISTS messages_count_inbound ON messages",
        "DROP FUNCTION IF EXISTS messages_count_inbound()",
    ),
}
