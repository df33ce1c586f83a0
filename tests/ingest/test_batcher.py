"""Group commit: concurrent pushes share a transaction, and each still gets its own answer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from app.ingest import batcher as batcher_module
from app.ingest.batcher import IngestBatcher, Outcome, Push
from app.models import Contact, Conversation, EventLog, Message
from channels.base import WebhookRequest
from tests.conftest import push, signed


async def count(app: Any, model: Any, *where: Any) -> int:
    async with app.state.services.db.sessions() as session:
        stmt = select(func.count()).select_from(model)
        if where:
            stmt = stmt.where(*where)
        return int(await session.scalar(stmt))


def wire(channel: dict[str, Any], payload: Any, secret: str | None = None) -> WebhookRequest:
    body, headers = signed(secret or channel["secret"], payload)
    return WebhookRequest(
        method="POST", query={}, headers={k.lower(): v for k, v in headers.items()}, body=body
    )


async def submit_all(batcher: IngestBatcher, pushes: list[Push]) -> list[Outcome | BaseException]:
    # gather starts every submit before the batcher's task runs: they form one batch.
    return await asyncio.gather(*(batcher.submit(p) for p in pushes), return_exceptions=True)


async def test_concurrent_pushes_are_stored_in_fewer_transactions_in_order(
    app: Any, client: Any, factory: Any
) -> None:
    ch = await factory.channel()
    commits: list[list[int]] = []
    app.state.services.db.on_events = commits.append
    payloads = [{"id": f"m{i}", "from": f"c{i % 3}", "text": f"第{i}条"} for i in range(12)]
    answers = await asyncio.gather(*(push(client, ch, p) for p in payloads))
    assert [r.status_code for r in answers] == [200] * 12
    assert await count(app, Message) == 12
    assert await count(app, Conversation) == 3  # one per customer, never two
    assert await count(app, EventLog) == 24  # message.created + conversation.* each
    assert len(commits) < 12  # shared transactions
    async with app.state.services.db.sessions() as session:
        rows = (await session.execute(select(Message.conversation_id, Message.content))).all()
        views = [
            e.data
            for e in await session.scalars(
                select(EventLog).where(EventLog.type != "message.created").order_by(EventLog.seq)
            )
        ]
    by_conversation: dict[int, list[str]] = {}
    for conversation_id, content in sorted(rows, key=lambda r: int(r[1][1:-1])):
        by_conversation.setdefault(conversation_id, []).append(content)
    assert sorted(len(v) for v in by_conversation.values()) == [4, 4, 4]
    # Each conversation's events count its unread messages one by one, as if sequential.
    for conversation_id in by_conversation:
        unread = [v["unread_count"] for v in views if v["id"] == conversation_id]
        assert unread == [1, 2, 3, 4]


async def test_racing_copies_in_one_batch_store_once_and_all_are_acknowledged(
    app: Any, factory: Any
) -> None:
    ch = await factory.channel()
    commits: list[list[int]] = []
    app.state.services.db.on_events = commits.append
    batcher = IngestBatcher(app.state.services.db)
    copies = [Push("test", ch["id"], wire(ch, {"id": "same", "from": "c1"})) for _ in range(8)]
    outcomes = await submit_all(batcher, copies)
    assert all(isinstance(o, Outcome) and o.result is not None for o in outcomes)
    assert sorted(o.stored for o in outcomes if isinstance(o, Outcome)) == [0] * 7 + [1]
    assert await count(app, Message) == 1
    assert await count(app, Conversation) == 1
    assert await count(app, Contact) == 1
    assert commits == [[1, 2]]  # one transaction, one message.created + conversation.created


async def test_one_failing_push_fails_alone(
    app: Any, factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ch = await factory.channel()
    real = batcher_module.record_inbound_batch

    async def flaky(session: Any, channel: Any, inbounds: Any, **kw: Any) -> Any:
        if any(i.text == "boom" for i in inbounds):
            raise RuntimeError("storage failed")
        return await real(session, channel, inbounds, **kw)

    monkeypatch.setattr(batcher_module, "record_inbound_batch", flaky)
    batcher = IngestBatcher(app.state.services.db)
    texts = ["a", "b", "boom", "c"]
    pushes = [
        Push("test", ch["id"], wire(ch, {"id": f"m{i}", "from": "c1", "text": t}))
        for i, t in enumerate(texts)
    ]
    pushes.append(Push("test", ch["id"], wire(ch, {"id": "x", "from": "c2"}, secret="wrong")))
    pushes.append(Push("test", 999_999, wire(ch, {"id": "y", "from": "c2"})))
    outcomes = await submit_all(batcher, pushes)
    assert isinstance(outcomes[2], RuntimeError)
    for o in outcomes[:2] + outcomes[3:4]:
        assert isinstance(o, Outcome) and o.result is not None and o.stored == 1
    refused, missing = outcomes[4], outcomes[5]
    assert isinstance(refused, Outcome) and refused.refused and refused.refused.status == 403
    assert isinstance(missing, Outcome) and missing.missing
    async with app.state.services.db.sessions() as session:
        stored = set(await session.scalars(select(Message.content)))
        events = [e.data for e in await session.scalars(select(EventLog).order_by(EventLog.seq))]
    assert stored == {"a", "b", "c"}  # the others were stored; nothing of the failed one
    assert len(events) == 6
    assert all("boom" not in json.dumps(e, ensure_ascii=False) for e in events)
    # The failed push's platform retries, and then it is stored.
    monkeypatch.setattr(batcher_module, "record_inbound_batch", real)
    (retry,) = await submit_all(batcher, [Push("test", ch["id"], pushes[2].wire)])
    assert isinstance(retry, Outcome) and retry.stored == 1
    assert await count(app, Message) == 4


async def test_a_push_with_several_messages_and_a_duplicate_in_the_same_batch(
    app: Any, factory: Any
) -> None:
    ch = await factory.channel()
    batcher = IngestBatcher(app.state.services.db)
    first = [{"id": "m1", "from": "c1"}, {"id": "m2", "from": "c2"}]
    second = [{"id": "m2", "from": "c2"}, {"id": "m3", "from": "c1"}]
    outcomes = await submit_all(
        batcher, [Push("test", ch["id"], wire(ch, first)), Push("test", ch["id"], wire(ch, second))]
    )
    assert [(o.stored, o.duplicates) for o in outcomes if isinstance(o, Outcome)] == [
        (2, 0),
        (1, 1),
    ]
    assert await count(app, Message) == 3
    assert await count(app, Conversation) == 2


async def test_new_conversations_of_one_batch_are_assigned_as_if_one_by_one(
    app: Any, factory: Any
) -> None:
    from tests.inbox.test_assignment import assignees, set_online

    ch = await factory.channel()
    batcher = IngestBatcher(app.state.services.db)
    customers = [
        Push("test", ch["id"], wire(ch, {"id": f"n{i}", "from": f"n{i}"})) for i in range(3)
    ]
    await submit_all(batcher, customers)
    assert await assignees(app) == [None, None, None]  # nobody online: all stay queued
    a = await factory.user("agent")
    b = await factory.user("agent")
    await set_online(app, a["id"], b["id"])
    # The next transaction asks again ("nobody" held only for the batch before).
    more = [Push("test", ch["id"], wire(ch, {"id": f"o{i}", "from": f"o{i}"})) for i in range(4)]
    await submit_all(batcher, more)
    assert await assignees(app) == [None, None, None, a["id"], b["id"], a["id"], b["id"]]


async def test_a_worker_that_has_just_stopped_does_not_strand_a_push(
    app: Any, client: Any, factory: Any
) -> None:
    """A push submitted after the last worker returned, before its done-callback ran,
    still gets a worker (else it would wait for the next request to arrive): workers are
    counted when they start and when they return, not from their tasks' states."""
    ch = await factory.channel()
    batcher = IngestBatcher(app.state.services.db)
    first = Push("test", ch["id"], wire(ch, {"id": "first", "from": "c1", "text": "你好"}))
    assert (await batcher.submit(first)).stored == 1  # a worker ran and returned
    assert batcher.running == 0
    p = Push("test", ch["id"], wire(ch, {"id": "late", "from": "c1", "text": "在吗"}))
    outcome = await asyncio.wait_for(batcher.submit(p), 10)
    assert outcome.stored == 1


class HeldStore:
    """Stands in for `IngestBatcher._store`: records each batch's size and holds it until
    released, as a batch waiting on the database would."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.release = asyncio.Event()

    async def __call__(self, batch: Any) -> None:
        self.sizes.append(len(batch))
        await self.release.wait()
        for p in batch:
            p.future.set_result(Outcome(stored=1))


async def ticks(n: int = 20) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_second_batch_waits_for_enough_pushes_or_a_short_while(
    app: Any, factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside a running batch, a second one starts for SECOND_BATCH_MIN waiting pushes, not
    for each one (a batch's fixed costs made single-push batches a third of them under
    load), and a few waiting pushes still start one after SECOND_BATCH_AFTER."""
    ch = await factory.channel()
    monkeypatch.setattr(batcher_module, "SECOND_BATCH_AFTER", 3600.0)
    batcher = IngestBatcher(app.state.services.db)
    batcher.max_workers = 2  # as on PostgreSQL
    store = HeldStore()
    monkeypatch.setattr(batcher, "_store", store)

    def one(i: int) -> asyncio.Task[Outcome]:
        p = Push("test", ch["id"], wire(ch, {"id": f"q{i}", "from": "c1"}))
        return asyncio.create_task(batcher.submit(p))

    waiting = [one(0)]
    await ticks()
    assert store.sizes == [1]  # an idle batcher stores a lone push at once
    waiting += [one(i) for i in range(1, batcher_module.SECOND_BATCH_MIN)]
    await ticks()
    assert store.sizes == [1]  # 15 waiting: left to the running batch
    waiting.append(one(99))
    await ticks()
    assert store.sizes == [1, batcher_module.SECOND_BATCH_MIN]
    store.release.set()
    outcomes = await asyncio.gather(*waiting)
    assert [o.stored for o in outcomes] == [1] * len(waiting)
    assert batcher.running == 0

    # A few pushes behind a batch that does not finish (a lock wait) get their own batch
    # after the short wait instead of waiting for it.
    monkeypatch.setattr(batcher_module, "SECOND_BATCH_AFTER", 0.05)
    store.release = asyncio.Event()
    store.sizes.clear()
    waiting = [one(100)]
    await ticks()
    waiting += [one(101), one(102)]
    await ticks()
    assert store.sizes == [1]
    for _ in range(200):
        if len(store.sizes) == 2:
            break
        await asyncio.sleep(0.01)
    assert store.sizes == [1, 2]
    store.release.set()
    await asyncio.gather(*waiting)
    assert batcher.running == 0 and batcher.timer is None
