"""The outbox: send, retry with backoff, fail with the reason, keep order, survive restarts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.delivery.worker import LEASE, DeliveryWorker, backoff
from app.models import DeliveryJob, EventLog, Message
from channels.base import DeliveryError
from tests.conftest import push
from tests.support.loopback import PLATFORM


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def setup(client: Any, factory: Any) -> tuple[dict[str, Any], int]:
    ch = await factory.channel()
    agent = await factory.user("agent")
    await push(client, ch, {"id": "in1", "from": "cust", "name": "王五", "text": "快递到哪了"})
    conv = (await client.get("/api/v1/conversations", headers=agent["headers"])).json()["items"][0]
    return agent, conv["id"]


async def reply(client: Any, agent: dict[str, Any], conv_id: int, text: str) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/conversations/{conv_id}/messages",
        json={"content": text},
        headers=agent["headers"],
    )
    assert r.status_code == 201
    return r.json()


async def message(app: Any, message_id: int) -> Message:
    async with app.state.services.db.sessions() as s:
        m = await s.get(Message, message_id)
        assert m is not None
        return m


def worker(app: Any, clock: Clock) -> DeliveryWorker:
    return DeliveryWorker(
        app.state.services.db, app.state.services.http, app.state.services.settings, clock=clock
    )


async def test_reply_is_sent_and_status_published(client: Any, factory: Any, app: Any) -> None:
    agent, conv_id = await setup(client, factory)
    sent = await reply(client, agent, conv_id, "在路上了，预计明天到")
    w = worker(app, Clock())
    assert await w.run_once() == 1
    assert [m.text for m in PLATFORM.sent] == ["在路上了，预计明天到"]
    assert PLATFORM.sent[0].recipient == "cust"
    assert PLATFORM.sent[0].reply_context == {"last_id": "in1"}
    m = await message(app, sent["id"])
    assert m.delivery_status == "sent" and m.external_id.startswith("out-")
    async with app.state.services.db.sessions() as s:
        last = await s.scalar(select(EventLog).order_by(EventLog.seq.desc()).limit(1))
    assert last.type == "message.updated" and last.data["delivery_status"] == "sent"
    assert await w.run_once() == 0  # nothing left


async def test_transient_failures_back_off_then_succeed(
    client: Any, factory: Any, app: Any
) -> None:
    agent, conv_id = await setup(client, factory)
    sent = await reply(client, agent, conv_id, "稍等")
    PLATFORM.fail_next = [DeliveryError("HTTP 503", retryable=True)] * 2
    clock = Clock()
    w = worker(app, clock)
    assert await w.run_once() == 1
    m = await message(app, sent["id"])
    assert m.delivery_status == "queued" and "HTTP 503" in (m.error or "")
    assert await w.run_once() == 0  # not due yet
    clock.advance(1.0)
    assert await w.run_once() == 1  # second failure
    assert await w.run_once() == 0
    clock.advance(5.0)
    assert await w.run_once() == 1
    m = await message(app, sent["id"])
    assert m.delivery_status == "sent" and m.error is None
    assert PLATFORM.calls == 3 and len(PLATFORM.sent) == 1


async def test_retries_are_bounded_then_failed_with_reason(
    client: Any, factory: Any, app: Any
) -> None:
    agent, conv_id = await setup(client, factory)
    sent = await reply(client, agent, conv_id, "hello")
    max_attempts = app.state.services.settings.delivery_max_attempts
    PLATFORM.fail_next = [DeliveryError("system busy (-1)", retryable=True)] * 50
    clock = Clock()
    w = worker(app, clock)
    for _ in range(max_attempts):
        assert await w.run_once() == 1
        clock.advance(3600)
    assert await w.run_once() == 0
    m = await message(app, sent["id"])
    assert m.delivery_status == "failed" and m.error == "system busy (-1)"
    assert PLATFORM.calls == max_attempts


async def test_permanent_and_uncertain_errors_fail_at_once(
    client: Any, factory: Any, app: Any
) -> None:
    agent, conv_id = await setup(client, factory)
    first = await reply(client, agent, conv_id, "one")
    PLATFORM.fail_next = [DeliveryError("45015: 回复时间超过限制 reply window closed")]
    clock = Clock()
    w = worker(app, clock)
    assert await w.run_once() == 1
    m = await message(app, first["id"])
    assert m.delivery_status == "failed" and m.error.startswith("45015")
    second = await reply(client, agent, conv_id, "two")
    PLATFORM.fail_next = [DeliveryError("read timeout", uncertain=True, retryable=False)]
    clock.now = datetime.now(UTC)
    assert await w.run_once() == 1
    # It may have landed: said so, not sent again on its own; the agent may retry it.
    m = await message(app, second["id"])
    assert (m.delivery_status, m.error) == ("uncertain", "read timeout")
    assert PLATFORM.calls == 2
    path = f"/api/v1/conversations/{conv_id}/messages/{second['id']}/retry"
    r = await client.post(path, headers=agent["headers"])
    assert r.status_code == 200 and r.json()["delivery_status"] == "queued"


async def test_replies_in_one_conversation_go_out_in_order(
    client: Any, factory: Any, app: Any
) -> None:
    agent, conv_id = await setup(client, factory)
    texts = ["第一句", "第二句", "第三句"]
    for t in texts:
        await reply(client, agent, conv_id, t)
    PLATFORM.fail_next = [DeliveryError("HTTP 502", retryable=True)]
    clock = Clock()
    w = worker(app, clock)
    assert await w.run_once() == 1  # only the head of the conversation is claimed
    assert PLATFORM.sent == []
    assert await w.run_once() == 0  # the others wait behind the retrying first one
    clock.advance(1.0)
    while await w.run_once():
        pass
    assert [m.text for m in PLATFORM.sent] == texts


async def test_job_left_by_a_crash_is_picked_up_and_not_sent_twice(
    client: Any, factory: Any, app: Any
) -> None:
    agent, conv_id = await setup(client, factory)
    sent = await reply(client, agent, conv_id, "订单已退款")
    clock = Clock()
    dead = worker(app, clock)
    claimed = await dead._claim()
    assert len(claimed) == 1
    # The dead process reached the platform, then died before recording the outcome.
    from app.connectors import channel_context
    from app.models import Channel
    from app.models import DeliveryJob as Job
    from channels.base import ContentType, OutboundMessage
    from tests.support.loopback import connector

    async with app.state.services.db.sessions() as s:
        job = await s.get(Job, claimed[0])
        channel = await s.get(Channel, job.channel_id)
        key = job.idempotency_key
    ctx = channel_context(
        app.state.services.db, app.state.services.http, app.state.services.settings, channel
    )
    await connector.send(ctx, OutboundMessage(key, "cust", ContentType.TEXT, "订单已退款"))
    assert len(PLATFORM.sent) == 1

    fresh = worker(app, clock)
    assert await fresh.run_once() == 0  # still leased to the dead process
    clock.advance(LEASE.total_seconds() + 1)
    assert await fresh.run_once() == 1
    assert len(PLATFORM.sent) == 1  # same idempotency key: the platform shows it once
    assert (await message(app, sent["id"])).delivery_status == "sent"
    async with app.state.services.db.sessions() as s:
        job = await s.scalar(select(DeliveryJob))
        assert job.attempts == 2 and job.status == "done"


async def test_job_left_by_a_crash_without_idempotency_is_marked_uncertain(
    client: Any, factory: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WeChat and Douyin take no idempotency key: a send cut short by a dead process is
    not repeated after the lease (the customer could see it twice); the agent decides."""
    from tests.support.loopback import LoopbackConnector

    no_key = dataclasses.replace(LoopbackConnector.capabilities, idempotent_sends=False)
    monkeypatch.setattr(LoopbackConnector, "capabilities", no_key)
    agent, conv_id = await setup(client, factory)
    sent = await reply(client, agent, conv_id, "只发一次")
    clock = Clock()
    assert len(await worker(app, clock)._claim()) == 1  # then the process dies
    fresh = worker(app, clock)
    clock.advance(LEASE.total_seconds() + 1)
    assert await fresh.run_once() == 1
    assert PLATFORM.calls == 0
    m = await message(app, sent["id"])
    assert m.delivery_status == "uncertain" and m.error.startswith("uncertain:")
    assert await fresh.run_once() == 0  # nothing left to send on its own
    path = f"/api/v1/conversations/{conv_id}/messages/{sent['id']}/retry"
    assert (await client.post(path, headers=agent["headers"])).status_code == 200
    clock.now = datetime.now(UTC)
    assert await fresh.run_once() == 1
    assert [m.text for m in PLATFORM.sent] == ["只发一次"]


async def test_failed_reply_can_be_retried(client: Any, factory: Any, app: Any) -> None:
    agent, conv_id = await setup(client, factory)
    sent = await reply(client, agent, conv_id, "重发我")
    PLATFORM.fail_next = [DeliveryError("40001 invalid credential")]
    clock = Clock()
    w = worker(app, clock)
    await w.run_once()
    path = f"/api/v1/conversations/{conv_id}/messages/{sent['id']}/retry"
    r = await client.post(path, headers=agent["headers"])
    assert r.status_code == 200 and r.json()["delivery_status"] == "queued"
    clock.now = datetime.now(UTC)
    assert await w.run_once() == 1
    assert (await message(app, sent["id"])).delivery_status == "sent"
    r = await client.post(path, headers=agent["headers"])
    assert r.status_code == 409  # only failed replies


def test_backoff_schedule_grows_with_jitter() -> None:
    assert backoff(1, lambda: 0.0) == timedelta(seconds=0.5)
    assert backoff(1, lambda: 1.0) == timedelta(seconds=1)
    assert backoff(3, lambda: 1.0) == timedelta(seconds=30)
    assert backoff(99, lambda: 1.0) == timedelta(seconds=3600)


async def test_server_worker_sends_on_its_own(client: Any, factory: Any, app: Any) -> None:
    """The worker started by the app is woken by the commit of a reply."""
    import asyncio

    agent, conv_id = await setup(client, factory)
    app.state.services.delivery.start()
    sent = await reply(client, agent, conv_id, "自动发送")
    for _ in range(200):
        if (await message(app, sent["id"])).delivery_status == "sent":
            break
        await asyncio.sleep(0.02)
    assert (await message(app, sent["id"])).delivery_status == "sent"
