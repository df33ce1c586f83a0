"""Round trips per ingest batch: the statements one batch of webhook pushes sends to the database.

The ingest bench measures throughput; this counts what a batch costs the database, which
is what the profile showed to matter: a batch of `size` pushes from known customers with
open conversations (the steady state of a busy shop), and one from new customers. Counted
with SQLAlchemy's `before_cursor_execute` (an executemany is one round trip).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import event

from tests.bench.bench_support import (
    PushMaker,
    create_wechat_channel,
    migrate,
    recreate_pg_database,
)


async def _count(url: str, channel_id: int, maker: PushMaker, size: int) -> int:
    from app.db import Database
    from app.ingest.batcher import IngestBatcher, Push
    from channels.base import WebhookRequest

    db = Database(url)
    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        batcher = IngestBatcher(db, max_batch=size)
        pushes = []
        for _ in range(size):
            path, body, _ = maker.make()
            query = dict(parse_qsl(path.split("?", 1)[1]))
            wire = WebhookRequest(
                method="POST",
                query=query,
                headers={"content-type": "text/xml"},
                body=body,
                received_at=time.time(),
            )
            pushes.append(Push("wechat", channel_id, wire))
        statements = 0
        batcher.queue.extend(pushes)
        await batcher._work()  # one batch: the queue holds exactly `size`
        outcomes = [p.future.result() for p in pushes]
        assert all(o.stored == 1 for o in outcomes), outcomes[:3]
        return statements
    finally:
        await db.dispose()


async def run(kind: str, workdir: Path, size: int = 32) -> dict[str, Any]:
    if kind == "sqlite":
        workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any load
        url = f"sqlite+aiosqlite:///{workdir / 'roundtrips.db'}"
    else:
        url = await recreate_pg_database("huiliu_bench_roundtrips")
    await migrate(url)
    channel_id = await create_wechat_channel(url)
    maker = PushMaker(f"/webhooks/wechat/{channel_id}", customers=size, prefix=7)
    new = await _count(url, channel_id, maker, size)  # every customer new
    known = await _count(url, channel_id, maker, size)  # the same customers again
    return {"kind": kind, "size": size, "new_customers": new, "known_customers": known}


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for kind in sys.argv[1:] or ["sqlite", "pg"]:
            print(asyncio.run(run(kind, Path(tmp) / kind)))
