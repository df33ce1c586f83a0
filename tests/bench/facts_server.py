"""`huiliu serve` with the service facts upkeep off: the "off" side of the ingest bench's
facts A/B (tests/bench/bench_facts.py). Only the bench starts this; the product has no
such switch.

`python -m tests.bench.facts_server serve --port N` replaces the ingest's call of
`after_inbound` (counts, greeting, away message, survey answers) with nothing, then runs
the `huiliu` command itself, so both sides start the same way (uvicorn serves one worker
in this process)."""

from __future__ import annotations

import sys
from typing import Any

import app.inbox.actions.inbound as inbound
from app.cli import main

REAL_AFTER_INBOUND = inbound.after_inbound


async def no_upkeep(*_args: Any, **_kwargs: Any) -> None:
    return None


def facts_upkeep(on: bool) -> None:
    """Switch the upkeep in this process (the in-process half of the A/B uses it too)."""
    inbound.after_inbound = REAL_AFTER_INBOUND if on else no_upkeep  # type: ignore[assignment]


if __name__ == "__main__":
    facts_upkeep(False)
    sys.exit(main(sys.argv[1:]))
