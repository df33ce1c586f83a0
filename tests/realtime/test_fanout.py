"""The fan-out under load: every socket gets each event it may see exactly once, in seq
order; a socket that cannot keep up never holds the others back; an idle socket holds
no task of its own beyond its reader."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from app.config import Settings
from app.main import create_app
from app.realtime.endpoints import _forward
from app.realtime.subscribers import EventQueue, LogEvent, Subscriber
from tests.realtime.serving import serving
from tests.realtime.test_events_ws import Live, next_event, no_event


@pytest.fixture(params=["frames", "asgi"])
async def live(settings: Settings, request: pytest.FixtureRequest) -> Any:
    app = create_app(settings)
    async with serving(app, framed=request.param == "frames") as host:
        lv = Live(app, host)
        yield lv
        await lv.http.aclose()


BURST = 12  # pushes sent at once: enough for several to share one read of the log


async def push_burst(lv: Live, channel: dict[str, Any], tag: str) -> None:
    await asyncio.gather(
        *(
            lv.push(channel, {"id": f"{tag}{i}", "from": f"u{i}", "text": f"{tag}{i}"})
            for i in range(BURST)
        )
    )


async def collect(ws: Any, count: int) -> list[dict[str, Any]]:
    return [await next_event(ws) for _ in range(count)]


async def test_a_burst_arrives_in_seq_order_exactly_once_on_every_socket(live: Live) -> None:
    ch = await live.factory.channel()
    agents = [await live.factory.user("agent") for _ in range(3)]
    start = await live.app.state.services.hub.current_seq()
    async with live.events(agents[0]["token"]) as a, live.events(agents[1]["token"]) as b:
        await asyncio.sleep(0.2)  # subscribed
        burst = asyncio.create_task(push_burst(live, ch, "m"))
        await asyncio.sleep(0.05)
        # The third connects mid-burst from where the burst began: its replay of the log
        # and the live events meet somewhere in the burst.
        async with live.events(agents[2]["token"], since=start) as c:
            await burst
            # Each push: message.created and conversation.created (a new contact each).
            got = [await collect(ws, 2 * BURST) for ws in (a, b, c)]
            await no_event(c, 0.3)
    for events in got:
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(set(seqs)), seqs  # increasing: in order, no duplicates
        texts = sorted(e["data"]["content"] for e in events if e["type"] == "message.created")
        assert texts == sorted(f"m{i}" for i in range(BURST))
    assert got[0] == got[1] == got[2]


async def test_a_limited_agent_never_gets_another_channels_events_in_a_burst(
    live: Live,
) -> None:
    a = await live.factory.channel("A", "sa")
    b = await live.factory.channel("B", "sb")
    limited = await live.factory.user("agent", channels=[a["id"]])
    everyone = await live.factory.user("agent")
    async with live.events(limited["token"]) as mine, live.events(everyone["token"]) as all_:
        await asyncio.sleep(0.2)
        await asyncio.gather(push_burst(live, b, "b"), push_burst(live, a, "a"))
        seen_all = await collect(all_, 4 * BURST)
        seen_mine = await collect(mine, 2 * BURST)
        await live.push(a, {"id": "last", "from": "u", "text": "last"})
        tail = await collect(mine, 1)
    assert {e["data"]["content"] for e in seen_all if e["type"] == "message.created"} == {
        f"{t}{i}" for t in "ab" for i in range(BURST)
    }
    texts = [e["data"]["content"] for e in seen_mine + tail if e["type"] == "message.created"]
    assert sorted(texts[:-1]) == sorted(f"a{i}" for i in range(BURST)) and texts[-1] == "last"


class FakeSocket:
    """Enough of Starlette's WebSocket for `_forward`: sends are recorded (or stall)."""

    def __init__(self, stall: bool = False) -> None:
        self.scope: dict[str, Any] = {}  # no frame writer: sends go through ASGI
        self.sent: list[str] = []
        self.stall = asyncio.Event() if stall else None
        self.gone = asyncio.Event()

    async def send_text(self, text: str) -> None:
        if self.stall is not None:
            await self.stall.wait()
        self.sent.append(text)

    async def send_json(self, data: Any) -> None:
        await self.send_text(json.dumps(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.sent.append(f"close {code}")

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        raise WebSocketDisconnect(1000)


def event(seq: int) -> LogEvent:
    e = LogEvent(seq, "message.created", {"n": seq}, channel_id=1)
    e.wire_text()
    return e


async def test_a_stalled_socket_does_not_delay_the_others() -> None:
    stalled, fast = FakeSocket(stall=True), FakeSocket()
    subs = [Subscriber(accepts=lambda _e: True) for _ in range(2)]
    tasks = [
        asyncio.create_task(_forward(ws, sub, 0))  # type: ignore[arg-type]
        for ws, sub in zip((stalled, fast), subs, strict=True)
    ]
    for seq in range(1, 51):
        for sub in subs:  # what the hub does: never awaits a socket
            sub.deliver(event(seq))
        await asyncio.sleep(0)
    for _ in range(20):
        await asyncio.sleep(0)
    assert [json.loads(t)["seq"] for t in fast.sent] == list(range(1, 51))
    assert stalled.sent == []
    assert subs[0].queue.qsize() == 49  # one taken and stuck in send, the rest waiting
    stalled.stall.set()  # type: ignore[union-attr]
    for _ in range(20):
        await asyncio.sleep(0)
    assert [json.loads(t)["seq"] for t in stalled.sent] == list(range(1, 51))
    for ws in (stalled, fast):
        ws.gone.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 1)


async def test_the_shared_text_is_sent_once_per_socket_and_old_seqs_are_skipped() -> None:
    ws = FakeSocket()
    sub = Subscriber(accepts=lambda _e: True)
    task = asyncio.create_task(_forward(ws, sub, 3))  # type: ignore[arg-type]
    shared = [event(seq) for seq in range(1, 7)]
    for e in shared + shared[4:]:  # 1-3 were replayed already; 5 and 6 arrive twice
        sub.deliver(e)
    for _ in range(5):
        await asyncio.sleep(0)
    assert ws.sent == [e.text for e in shared[3:]]
    ws.gone.set()
    await asyncio.wait_for(task, 1)


async def test_queue_wait_times_out_wakes_and_reports_items() -> None:
    queue = EventQueue(10)
    assert await queue.wait(0.01) is False  # the heartbeat's timeout
    waiting = asyncio.create_task(queue.wait(5))
    await asyncio.sleep(0)
    queue.wake()  # the reader finished: the writer wakes with nothing queued
    assert await asyncio.wait_for(waiting, 1) is False
    waiting = asyncio.create_task(queue.wait(5))
    await asyncio.sleep(0)
    queue.put_nowait(one := LogEvent(1, "message.created", {}))
    assert await asyncio.wait_for(waiting, 1) is True
    assert await queue.wait(5) is True  # already queued: no waiting at all
    assert queue.get_nowait() is one and queue.empty()


async def test_under_huiliu_serve_the_hubs_frames_are_written_as_they_are(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.realtime.transport import FrameWriterProtocol

    writes: list[bytes] = []  # by the socket's writer
    direct: list[bytes] = []  # by the hub, the writer left asleep
    original, original_now = FrameWriterProtocol.write_frames, FrameWriterProtocol.write_now

    async def counted(self: FrameWriterProtocol, data: bytes) -> None:
        writes.append(data)
        await original(self, data)

    def counted_now(self: FrameWriterProtocol, data: bytes) -> bool:
        done = original_now(self, data)
        if done:
            direct.append(data)
        return done

    monkeypatch.setattr(FrameWriterProtocol, "write_frames", counted)
    monkeypatch.setattr(FrameWriterProtocol, "write_now", counted_now)
    app = create_app(settings)
    async with serving(app, framed=True) as host:
        lv = Live(app, host)
        ch = await lv.factory.channel()
        agent = await lv.factory.user("agent")
        async with lv.events(agent["token"]) as ws:
            await asyncio.sleep(0.2)
            await push_burst(lv, ch, "f")
            got = await collect(ws, 2 * BURST)
        await lv.http.aclose()
    assert sorted(e["data"]["content"] for e in got if e["type"] == "message.created") == sorted(
        f"f{i}" for i in range(BURST)
    )
    # Every event went out as the hub's bytes, none through ASGI; bursts share writes.
    # The socket's writer slept through it all: the hub wrote each run of frames itself.
    assert sum(data.count(b'"seq":') for data in direct) == 2 * BURST
    assert writes == [] and len(direct) <= 2 * BURST


def test_a_hub_ignores_only_its_own_redis_hints() -> None:
    from app.realtime.hub import EventHub

    mine, other = EventHub(None, "redis://unused"), EventHub(None, "redis://unused")  # type: ignore[arg-type]
    assert mine._own_hint(f"41 {mine._origin}".encode())
    assert not mine._own_hint(f"41 {other._origin}".encode())
    assert not mine._own_hint(b"41")  # a bare seq, from a process before hints were tagged
    assert not mine._own_hint(None)


async def test_the_hubs_postgres_connection_heals_after_the_server_drops_it(live: Live) -> None:
    """The hub keeps one connection for its reads on PostgreSQL; a database restart or a
    killed backend must cost a retry, not the live stream."""
    from sqlalchemy import text

    hub = live.app.state.services.hub
    if not hub.db.is_postgres:
        pytest.skip("SQLite reads through the one pooled connection")
    ch = await live.factory.channel()
    agent = await live.factory.user("agent")
    async with live.events(agent["token"]) as ws:
        await asyncio.sleep(0.2)
        await live.push(ch, {"id": "1", "from": "u1", "text": "before"})
        assert (await next_event(ws))["data"]["content"] == "before"
        await next_event(ws)
        pid = await hub._conn.scalar(text("SELECT pg_backend_pid()"))
        async with hub.db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await conn.commit()
        await live.push(ch, {"id": "2", "from": "u1", "text": "after"})
        event = await next_event(ws, timeout=10)
    assert event["data"]["content"] == "after"


async def test_a_writer_busy_when_the_client_leaves_ends_without_waiting_for_a_heartbeat() -> None:
    ws = FakeSocket(stall=True)
    sub = Subscriber(accepts=lambda _e: True)
    task = asyncio.create_task(_forward(ws, sub, 0))  # type: ignore[arg-type]
    sub.deliver(event(1))
    for _ in range(5):
        await asyncio.sleep(0)  # the writer is now stuck sending seq 1
    ws.gone.set()  # the client leaves: nobody is waiting on the queue to be woken
    for _ in range(5):
        await asyncio.sleep(0)
    ws.stall.set()  # type: ignore[union-attr]
    # Before the fix it went back to wait for 30 s (the heartbeat) holding the socket.
    await asyncio.wait_for(task, 1)
