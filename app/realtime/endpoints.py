"""WS /api/v1/events: the agent's live stream, resumable by `seq`.

On connect the socket subscribes first, then replays the log after `since`, then
forwards live events, skipping any `seq` it already sent: nothing is missed in the
gap between replay and live. A client too far behind gets `resync` and refetches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import func, select
from starlette.routing import WebSocketRoute
from uvicorn.protocols.utils import ClientDisconnected

from app.accounts.auth import bearer_from, user_for_token
from app.accounts.viewer import Viewer, load_viewer
from app.db import Database
from app.metrics import WEBSOCKETS
from app.models import EventLog
from app.realtime.hub import EVENT_COLUMNS, EventHub, Subscriber, event_row, wire_text
from app.realtime.transport import EXTENSION as FRAMES_EXTENSION

router = APIRouter()

# Close codes in the private range (4000-4999) so clients can tell why.
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_TOO_SLOW = 4408
HEARTBEAT_SECONDS = 30  # under the 45 s NAT idle limit Zulip learned (perf-reliability.md 3.1)


async def _authenticate(websocket: WebSocket) -> Viewer | None:
    db: Database = websocket.app.state.db
    async with db.session() as session:
        token = bearer_from(websocket) or websocket.query_params.get("token")
        user = await user_for_token(session, token) if token else None
        if user is None:
            # Cookie sessions are vulnerable to cross-site websocket hijacking: check Origin.
            if not _same_origin(websocket):
                return None
            user = await websocket.app.state.web_auth(websocket, session)
        if user is None:
            return None
        return await load_viewer(session, user)


def _same_origin(websocket: WebSocket) -> bool:
    """The page that opened the socket is ours: the public URL, or the host it asked
    (someone browsing http://localhost:8000 while HUILIU_PUBLIC_URL says 127.0.0.1)."""
    origin = websocket.headers.get("origin")
    if not origin:
        return False
    if websocket.app.state.origin_allowed(origin):
        return True
    got = urlsplit(origin)
    return got.scheme in ("http", "https") and got.netloc == websocket.headers.get("host", "")


def _visible(viewer: Viewer) -> Any:
    return lambda event: viewer.can_see_channel(event.get("channel_id"))


async def _replay(
    db: Database, viewer: Viewer, since: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Events after `since` this viewer may see; False when the client must resync."""
    async with db.sessions() as session:
        oldest = await session.scalar(select(func.min(EventLog.seq)))
        if oldest is not None and since < oldest - 1:
            return [], False  # the log no longer reaches back that far
        rows = (
            await session.execute(
                select(*EVENT_COLUMNS)
                .where(EventLog.seq > since)
                .order_by(EventLog.seq)
                .limit(limit + 1)
            )
        ).all()
    if len(rows) > limit:
        return [], False
    accepts = _visible(viewer)
    events = [event_row(r) for r in rows]
    return [e for e in events if accepts(e)], True


async def events(websocket: WebSocket) -> None:
    viewer = await _authenticate(websocket)
    # Accept before refusing: a browser sees the close code, never an HTTP 403.
    await websocket.accept()
    if viewer is None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="authentication required")
        return
    since_raw = websocket.query_params.get("since")
    if since_raw is not None and not since_raw.isdigit():
        await websocket.close(code=1008, reason="since must be a non-negative integer")
        return
    hub: EventHub = websocket.app.state.hub
    sub = Subscriber(accepts=_visible(viewer), user_id=viewer.id)
    hub.subscribe(sub)
    WEBSOCKETS.labels(kind="agent").inc()
    # Presence (app/web/presence.py): the only frames a client sends; ephemeral, no seq.
    presence = getattr(websocket.app.state, "presence", None)

    async def on_frame(frame: Any) -> None:
        if presence is not None:
            await presence.handle(websocket.app.state.db, hub, viewer, sub, frame)

    try:
        last = hub.last_seq
        if since_raw is not None:
            settings = websocket.app.state.settings
            missed, ok = await _replay(
                websocket.app.state.db, viewer, int(since_raw), settings.events_replay_limit
            )
            if not ok:
                last = await hub.current_seq()
                await websocket.send_json({"seq": last, "type": "resync", "data": {}})
            else:
                last = int(since_raw)
                for event in missed:
                    await websocket.send_text(wire_text(event))
                    last = event["seq"]
        await _forward(websocket, sub, last, on_frame)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(sub)
        if presence is not None:
            presence.drop(hub, sub)
        WEBSOCKETS.labels(kind="agent").dec()


# A plain Starlette route: FastAPI's websocket route adds two AsyncExitStacks and its
# dependency-solving frames to every open socket (~2 KB each, bench_memory), and this
# endpoint has no dependencies to solve.
router.routes.append(WebSocketRoute("/api/v1/events", events))


async def _forward(
    websocket: WebSocket,
    sub: Subscriber,
    last: int,
    on_frame: Callable[[Any], Awaitable[None]] | None = None,
) -> None:
    """The socket's one writer: sleeps on its queue, then sends everything queued, in
    order. Each event's text and frame were encoded once by the hub for every socket;
    under `huiliu serve` a burst is one write to the kernel (transport.py), elsewhere one
    ASGI send per event. Either way a burst costs this socket one wake-up, not a task and
    an `asyncio.wait` per event (make bench, live latency: most of the fan-out's CPU)."""
    receiver = asyncio.create_task(_drain_client(websocket, on_frame))
    receiver.add_done_callback(lambda _task: sub.queue.wake())
    queue = sub.queue
    extension = websocket.scope.get("extensions", {}).get(FRAMES_EXTENSION)
    write: Callable[[bytes], Awaitable[None]] | None = extension["write"] if extension else None
    frames: list[bytes] = []
    try:
        # The reader's end wakes a waiting writer; one busy sending when it ended sees it
        # here before it waits again (or it would sleep until the next heartbeat).
        while not receiver.done():
            if not await queue.wait(HEARTBEAT_SECONDS):
                if not receiver.done():
                    await websocket.send_text(_heartbeat(last))
                continue
            while queue.qsize():
                if receiver.done():  # the client left: what is queued has nowhere to go
                    return
                event = queue.get_nowait()
                if event is not None and "seq" in event and write is not None:
                    if event["seq"] > last:
                        frames.append(event["frame"])
                        last = event["seq"]
                    continue
                if frames and write is not None:  # what is batched goes first, in order
                    await write(b"".join(frames))
                    frames.clear()
                if event is None:  # closed by the hub: too slow, deactivated, or shutting down
                    code = CLOSE_TOO_SLOW if sub.overflowed else 1001
                    await websocket.close(code=code)
                    return
                if "ephemeral" in event:  # presence: sent as is, never logged nor counted
                    await websocket.send_json(event["ephemeral"])
                    continue
                if event["seq"] <= last:
                    continue
                await websocket.send_text(event.get("text") or wire_text(event))
                last = event["seq"]
            if frames and write is not None:
                await write(b"".join(frames))
                frames.clear()
    except ClientDisconnected:
        return
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver


def _heartbeat(last: int) -> str:
    return json.dumps({"type": "heartbeat", "seq": last, "data": {}}, separators=(",", ":"))


async def _drain_client(
    websocket: WebSocket, on_frame: Callable[[Any], Awaitable[None]] | None = None
) -> None:
    """Read client frames until it disconnects; the only ones acted on are presence."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                frame = json.loads(message.get("text") or "null")
            except (ValueError, TypeError):
                continue
            if on_frame is not None:
                await on_frame(frame)
