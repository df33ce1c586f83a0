"""What `huiliu export` and `huiliu search reindex` run (app/cli.py parses the options).

Both show a one-line progress bar on stderr when it is a terminal and print their
summary as JSON, like every other command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from app.archive.export import conversations_with_messages, count_conversations, jsonl_line
from app.archive.queries import ArchiveFilters
from app.audit import record_audit
from app.db import Database
from app.searchindex.index import reindex


class Progress:
    """A one-line progress bar on stderr, only when it is a terminal."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, max(total, 1)
        self.tty = sys.stderr.isatty()
        self.shown = -1.0

    def update(self, done: int) -> None:
        fraction = min(done / self.total, 1.0)
        if not self.tty or (fraction - self.shown < 0.01 and fraction < 1.0):
            return
        self.shown = fraction
        bar = "#" * int(fraction * 30)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {fraction:4.0%}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty and self.shown >= 0:
            sys.stderr.write("\n")


async def export_to_file(database_url: str, f: ArchiveFilters, out: Path) -> dict[str, Any]:
    """JSON lines into `out`, written as `out.part` and renamed once complete, so a
    failed export never leaves a file that looks whole. Audited before it starts."""
    part = out.with_name(out.name + ".part")
    db = Database(database_url)
    try:
        async with db.session() as session:
            details = {**f.as_details(), "via": "cli"}
            record_audit(session, None, "archive.exported", "conversation", "", details)
        progress = Progress("exporting", await count_conversations(db.session, f, None))
        conversations = messages = 0
        with part.open("w", encoding="utf-8") as fh:  # noqa: ASYNC230 (sequential writes)
            async for conversation, history in conversations_with_messages(db.session, f):
                fh.write(jsonl_line(conversation, history))
                conversations += 1
                messages += len(history)
                progress.update(conversations)
        progress.close()
        part.replace(out)
        return {"conversations": conversations, "messages": messages, "out": str(out)}
    finally:
        await db.dispose()


async def reindex_all(database_url: str) -> dict[str, int]:
    db = Database(database_url)
    progress = Progress("reindexing", 1)

    def shown(last_id: int, max_id: int) -> None:
        progress.total = max(max_id, 1)
        progress.update(last_id)

    try:
        return {"indexed": await reindex(db.session, shown)}
    finally:
        progress.close()
        await db.dispose()
