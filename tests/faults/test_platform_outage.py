"""The platform's API down for ten minutes (simulated time, the delivery worker's clock):
replies wait, retrying with backoff, never fail for it, and then go out exactly once and
in order per conversation; while one waits, the replies queued behind it are not tried."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.delivery.worker import DeliveryWorker
from app.models import DeliveryJob, JobStatus, Message
from channels.base import ChannelContext, DeliveryError, OutboundMessage, SendResult
from tests.conftest import push
from tests.faults.faults_support import needs_pg_and_redis
from tests.support import loopback

pytestmark = needs_pg_and_redis

OUTAGE = timedelta(minutes=10)
STEP = timedelta(seconds=15)
GIVE_UP_AFTER = timedelta(hours=3)  # backoff after 6 failures is at most an hour


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_replies_wait_out_a_platform_outage_then_go_in_order(
    client: Any, factory: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = await factory.channel()
    agent = await factory.user("agent")
    conversations: dict[str, int] = {}
    for customer in ("alice", "bob"):
        await push(client, channel, {"id": f"in-{customer}", "from": customer, "text": "在吗"})
    items = (await client.get("/api/v1/conversations", headers=agent["headers"])).json()["items"]
    for item in items:
        conversations[item["contact"]["name"] or ""] = item["id"]
    replies: dict[int, list[str]] = defaultdict(list)
    for n in range(3):  # interleaved: a1 b1 a2 b2 a3 b3
        for conv_id in sorted(conversations.values()):
            text = f"回复 {conv_id}-{n}"
            r = await client.post(
                f"/api/v1/conversations/{conv_id}/messages",
                json={"content": text},
                headers=agent["headers"],
            )
            assert r.status_code == 201
            replies[conv_id].append(text)

    clock = Clock()
    back_at = clock.now + OUTAGE
    attempts: list[tuple[datetime, str]] = []
    send = loopback.LoopbackConnector.send

    async def flaky_send(self: Any, ctx: ChannelContext, message: OutboundMessage) -> SendResult:
        attempts.append((clock.now, message.text))
        if clock.now < back_at:
            raise DeliveryError("HTTP 503 from the platform", retryable=True)
        return await send(self, ctx, message)

    monkeypatch.setattr(loopback.LoopbackConnector, "send", flaky_send)
    worker = DeliveryWorker(
        app.state.services.db, app.state.services.http, app.state.services.settings, clock=clock
    )

    async def jobs() -> list[DeliveryJob]:
        async with app.state.services.db.sessions() as s:
            return list(await s.scalars(select(DeliveryJob).order_by(DeliveryJob.id)))

    started = clock.now
    while clock.now - started < GIVE_UP_AFTER:
        await worker.run_once()
        if clock.now < back_at:
            assert all(j.status != JobStatus.FAILED for j in await jobs())
        elif all(j.status == JobStatus.DONE for j in await jobs()):
            break
        clock.now += STEP
    assert all(j.status == JobStatus.DONE for j in await jobs())

    # While down: only the first reply of each conversation was tried, several times.
    during = [text for at, text in attempts if at < back_at]
    heads = {texts[0] for texts in replies.values()}
    assert set(during) == heads
    assert all(during.count(h) >= 4 for h in heads)  # 0 s, ~1 s, ~5 s, ~30 s, ~2 min ...

    # Then: each reply sent exactly once, in order within its conversation.
    sent = loopback.PLATFORM.sent
    assert sorted(m.text for m in sent) == sorted(t for ts in replies.values() for t in ts)
    for texts in replies.values():
        assert [m.text for m in sent if m.text in texts] == texts
    async with app.state.services.db.sessions() as s:
        statuses = set(
            await s.scalars(select(Message.delivery_status).where(Message.direction == "outbound"))
        )
    assert statuses == {"sent"}
