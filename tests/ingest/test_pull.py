"""The pull step: a notice is answered at once, then its messages are fetched page by page."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from app.models import Message, PullCursor
from channels.base import DeliveryError, PullRequest
from tests.conftest import push
from tests.support.loopback import PLATFORM


def mail(n: int, start: int = 0, key: str = "kf1") -> None:
    box = PLATFORM.mailbox.setdefault(key, [])
    box.extend(
        {"id": f"{key}-m{i}", "from": f"cust{i % 3}", "name": f"客户{i % 3}", "text": f"消息 {i}"}
        for i in range(start, start + n)
    )


async def stored(app: Any) -> list[str]:
    async with app.state.services.db.sessions() as session:
        return list(await session.scalars(select(Message.external_id).order_by(Message.id)))


async def cursor_row(app: Any, channel_id: int, key: str = "kf1") -> PullCursor | None:
    async with app.state.services.db.sessions() as session:
        return await session.get(PullCursor, (channel_id, key))


async def test_notice_is_answered_then_pages_are_pulled_and_the_cursor_kept(
    app: Any, client: Any, factory: Any
) -> None:
    channel = await factory.channel()
    mail(5)
    r = await push(client, channel, {"pull": "kf1", "token": "T1"})
    assert r.status_code == 200 and r.text == "success"
    assert await stored(app) == [f"kf1-m{i}" for i in range(5)]
    assert PLATFORM.pulls == [("kf1", None, "T1"), ("kf1", "c2", "T1"), ("kf1", "c4", "T1")]
    row = await cursor_row(app, channel["id"])
    assert row is not None and (row.cursor, row.requested, row.pulled) == ("c5", 1, 1)

    # The next notice starts where the last stopped: only the new message is fetched.
    PLATFORM.pulls.clear()
    mail(1, start=5)
    await push(client, channel, {"pull": "kf1", "token": "T2"})
    assert PLATFORM.pulls == [("kf1", "c5", "T2")]
    assert (await stored(app))[-1] == "kf1-m5"


async def test_an_empty_page_with_more_keeps_pulling(app: Any, client: Any, factory: Any) -> None:
    channel = await factory.channel()
    mail(3)
    PLATFORM.empty_pages_next = 2
    await push(client, channel, {"pull": "kf1"})
    assert [c for _, c, _ in PLATFORM.pulls] == [None, "c0~", "c0~", "c2"]
    assert len(await stored(app)) == 3


async def test_a_platform_error_is_retried_by_the_next_notice(
    app: Any, client: Any, factory: Any
) -> None:
    channel = await factory.channel()
    mail(2)
    PLATFORM.pull_fail_next.append(DeliveryError("invalid token (95007)"))
    r = await push(client, channel, {"pull": "kf1", "token": "expired"})
    assert r.status_code == 200 and r.text == "success"
    assert await stored(app) == []
    row = await cursor_row(app, channel["id"])
    assert row is not None and (row.cursor, row.pulled, row.error) == (
        None,
        0,
        "invalid token (95007)",
    )

    await push(client, channel, {"pull": "kf1", "token": "fresh"})
    assert await stored(app) == ["kf1-m0", "kf1-m1"]
    row = await cursor_row(app, channel["id"])
    assert row is not None and (row.cursor, row.requested, row.pulled) == ("c2", 2, 2)
    assert row.error is None


async def test_failure_between_pages_resumes_at_the_stored_cursor(
    app: Any, client: Any, factory: Any, monkeypatch: Any
) -> None:
    channel = await factory.channel()
    mail(4)
    from tests.support import loopback

    real = loopback.LoopbackConnector.pull
    calls = 0

    async def second_fails(self: Any, ctx: Any, request: PullRequest, cursor: str | None) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            PLATFORM.pulls.append((request.key, cursor, "failed"))
            raise DeliveryError("platform busy (-1)", retryable=True)
        return await real(self, ctx, request, cursor)

    monkeypatch.setattr(loopback.LoopbackConnector, "pull", second_fails)
    r = await push(client, channel, {"pull": "kf1"})
    assert r.status_code == 200 and r.text == "success"  # the notice itself was fine
    assert await stored(app) == ["kf1-m0", "kf1-m1"]
    row = await cursor_row(app, channel["id"])
    assert row is not None
    assert (row.cursor, row.requested, row.pulled) == ("c2", 1, 0)
    assert row.error == "platform busy (-1)"
    assert await app.state.services.puller.owed() == [(channel["id"], "kf1")]

    # The periodic pass retries it, from the stored cursor, without a notice token.
    assert await app.state.services.puller.run_owed() == 2
    assert PLATFORM.pulls[-1] == ("kf1", "c2", "")
    assert await stored(app) == [f"kf1-m{i}" for i in range(4)]
    row = await cursor_row(app, channel["id"])
    assert row is not None and (row.cursor, row.pulled, row.error) == ("c4", 1, None)
    assert await app.state.services.puller.owed() == []


async def test_two_notices_at_once_pull_no_page_twice_and_lose_none(
    app: Any, client: Any, factory: Any
) -> None:
    channel = await factory.channel()
    PLATFORM.page_size = 1
    PLATFORM.pull_delay = 0.02
    mail(4)

    async def later_messages() -> None:
        await asyncio.sleep(0.03)  # while the first pull is running
        mail(2, start=4)

    results = await asyncio.gather(
        push(client, channel, {"pull": "kf1", "token": "A"}),
        push(client, channel, {"pull": "kf1", "token": "B"}),
        later_messages(),
    )
    assert [r.status_code for r in results[:2]] == [200, 200]
    ids = await stored(app)
    assert sorted(ids) == sorted(f"kf1-m{i}" for i in range(6))
    cursors = [c for _, c, _ in PLATFORM.pulls]
    assert len(cursors) == len(set(cursors)), PLATFORM.pulls  # no page pulled twice
    row = await cursor_row(app, channel["id"])
    assert row is not None and (row.cursor, row.requested, row.pulled) == ("c6", 2, 2)


async def test_keys_have_their_own_cursors(app: Any, client: Any, factory: Any) -> None:
    channel = await factory.channel()
    mail(3, key="kf1")
    mail(1, key="kf2")
    await push(client, channel, {"pull": "kf1"})
    await push(client, channel, {"pull": "kf2"})
    assert len(await stored(app)) == 4
    assert (await cursor_row(app, channel["id"], "kf1")).cursor == "c3"  # type: ignore[union-attr]
    assert (await cursor_row(app, channel["id"], "kf2")).cursor == "c1"  # type: ignore[union-attr]


async def test_a_forged_notice_pulls_nothing(app: Any, client: Any, factory: Any) -> None:
    channel = await factory.channel()
    mail(2)
    r = await push(client, {**channel, "secret": "wrong"}, {"pull": "kf1"})
    assert r.status_code == 403
    assert PLATFORM.pulls == []
    assert await cursor_row(app, channel["id"]) is None
    async with app.state.services.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 0


async def test_a_connector_crash_is_recorded_and_the_pull_stays_owed(
    app: Any, client: Any, factory: Any, monkeypatch: Any
) -> None:
    from tests.support import loopback

    async def broken(self: Any, ctx: Any, request: PullRequest, cursor: str | None) -> Any:
        raise KeyError("msg_list")

    channel = await factory.channel()
    mail(1)
    monkeypatch.setattr(loopback.LoopbackConnector, "pull", broken)
    r = await push(client, channel, {"pull": "kf1"})
    assert r.status_code == 200 and r.text == "success"
    row = await cursor_row(app, channel["id"])
    assert row is not None and row.error == "unexpected: KeyError: 'msg_list'"
    assert await app.state.services.puller.owed() == [(channel["id"], "kf1")]
    monkeypatch.undo()
    assert await app.state.services.puller.run_owed() == 1
    assert await app.state.services.puller.owed() == []
