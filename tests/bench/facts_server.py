"""`huiliu serve` with the service facts upkeep off: the "off" side of the ingest bench's
facts A/B (tests/bench/bench_facts.py). Only the bench starts this; the product has no
such switch.

The upkeep on ingest is two parts: the database counts customer messages as they are
stored (a trigger, app/service/inbound_counts.py), and the ingest calls `after_inbound`
(greeting, away message, survey answers). `python -m tests.bench.facts_server serve
--port N` replaces that call with nothing, then runs the `huiliu` command itself, so both
sides start the same way (uvicorn serves one worker in this process); the bench drops the
trigger from the "off" side's database first (`counting`)."""

from __future__ import annotations

import sys
from typing import Any

from sqlalchemy import text

import app.inbox.actions.inbound as inbound
from app.cli import main
from app.db import Database
from app.service import inbound_counts

REAL_AFTER_INBOUND = inbound.after_inbound


async def no_upkeep(*_args: Any, **_kwargs: Any) -> None:
    return None


def facts_upkeep(on: bool) -> None:
    """Switch the upkeep in this process (the in-process half of the A/B uses it too)."""
    inbound.after_inbound = REAL_AFTER_INBOUND if on else no_upkeep  # type: ignore[assignment]


async def counting(db: Database, on: bool) -> None:
    """Create or drop the database's count of customer messages (the trigger)."""
    async with db.session() as session:
        dialect = session.get_bind().dialect.name
        for statement in (inbound_counts.DROP if not on else inbound_counts.CREATE)[dialect]:
            await session.execute(text(statement))
        await session.commit()


if __name__ == "__main__":
    facts_upkeep(False)
    sys.exit(main(sys.argv[1:]))
