"""A server killed with SIGKILL under ingest load loses no acknowledged message, and after
the platform's retries every message is stored exactly once, with exactly one event."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from sqlalchemy import func, select

from app.db import Database
from app.models import EventLog, Message
from tests.bench.bench_support import (
    HttpClient,
    PushMaker,
    Server,
    create_wechat_channel,
    huiliu_server,
)
from tests.faults.faults_support import needs_pg_and_redis

pytestmark = needs_pg_and_redis

CONNECTIONS = 8
KILL_AFTER_ACKS = 40  # well into the load; the server has transactions in flight


async def push_until_killed(
    server: Server, maker: PushMaker, acked: set[int], unknown: set[int], bodies: dict
) -> None:
    """Push from CONNECTIONS clients; kill the server once enough pushes were acknowledged."""

    async def client_loop() -> None:
        try:
            client = await HttpClient.open(server.port)
        except OSError:
            return
        try:
            while True:
                path, body, msg_id = maker.make()
                bodies[msg_id] = (path, body)
                try:
                    status, answer = await client.request(
                        "POST", path, body, {"Content-Type": "text/xml"}
                    )
                except (OSError, asyncio.IncompleteReadError):
                    unknown.add(msg_id)  # sent, no answer: WeChat retries these
                    return
                assert status == 200 and answer == b"success", (status, answer)
                acked.add(msg_id)
        finally:
            client.close()

    async def killer() -> None:
        deadline = time.monotonic() + 30
        while len(acked) < KILL_AFTER_ACKS and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGKILL)

    await asyncio.wait_for(asyncio.gather(killer(), *(client_loop() for _ in range(8))), 60)


async def test_sigkill_during_ingest_loses_nothing_acknowledged(
    db_url: str, tmp_path: Path
) -> None:
    db = Database(db_url)
    try:
        channel_id = await create_wechat_channel(db_url)
        maker = PushMaker(f"/webhooks/wechat/{channel_id}", customers=20)
        acked: set[int] = set()
        unknown: set[int] = set()
        bodies: dict[int, tuple[str, bytes]] = {}

        first = huiliu_server(tmp_path / "first", db_url)
        await first.start()
        try:
            await push_until_killed(first, maker, acked, unknown, bodies)
            assert await asyncio.to_thread(first.proc.wait, 10) == -signal.SIGKILL  # type: ignore[union-attr]
        finally:
            await first.stop()
        assert len(acked) >= KILL_AFTER_ACKS and unknown  # the kill hit requests in flight

        # Acknowledged means stored, before any retry.
        async with db.sessions() as s:
            stored = set(
                await s.scalars(select(Message.external_id).where(Message.channel_id == channel_id))
            )
        assert {str(m) for m in acked} <= stored

        # The restarted server gets WeChat's retries: every unanswered push, and some
        # answered ones again (a retry can cross an answer that got lost).
        second = huiliu_server(tmp_path / "second", db_url)
        await second.start()
        try:
            client = await HttpClient.open(second.port)
            for msg_id in sorted(unknown) + sorted(acked)[:10]:
                path, body = bodies[msg_id]
                status, _ = await client.request("POST", path, body, {"Content-Type": "text/xml"})
                assert status == 200
            client.close()
        finally:
            await second.stop(signal.SIGTERM)

        async with db.sessions() as s:
            rows = (
                await s.execute(
                    select(Message.external_id, func.count())
                    .where(Message.channel_id == channel_id)
                    .group_by(Message.external_id)
                )
            ).all()
            created = await s.scalar(select(func.count()).where(EventLog.type == "message.created"))
        counts = dict(rows)
        expected = {str(m) for m in acked | unknown}
        assert set(counts) == expected  # nothing lost, nothing invented
        assert set(counts.values()) == {1}  # exactly once
        assert created == len(expected)  # one message.created each, none for the retries
    finally:
        await db.dispose()
