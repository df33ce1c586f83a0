"""WS /api/v1/events: the agent's live stream, resumable by `seq`.

On connect the socket subscribes first, then replays the log after `since`, then
forwards live events, skipping any `seq` it already sent: nothing is missed in the
gap between replay and live. A client too far behind gets `resync` and refetches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Hashable
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
from app.realtime.events import ACCESS_CHANGED
from app.realtime.hub import EVENT_COLUMNS
from app.realtime.subscribers import Ephemeral, LogEvent, Recheck, Subscriber, Visible
from app.realtime.transport import EXTENSION as FRAMES_EXTENSION
from app.services import get_services

log = logging.getLogger(__name__)
router = APIRouter()

# What a re-check gives the writer: the new filter and the hub's last seq when it was
# installed, or None when the socket's credential no longer holds.
Rechecked = tuple[Callable[[Visible], bool], int] | None
RETRY = object()

# Close codes in the private range (4000-4999) so clients can tell why.
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_TOO_SLOW = 4408
HEARTBEAT_SECONDS = 30  # under the 45 s NAT idle limit Zulip learned (perf-reliability.md 3.1)


async def _authenticate(websocket: WebSocket) -> Viewer | None:
    """Who the socket serves, from the credential it opened with (a token, or the
    session cookie from one of our pages); None when that no longer holds."""
    services = get_services(websocket)
    async with services.db.session() as session:
        token = bearer_from(websocket) or websocket.query_params.get("token")
        user = await user_for_token(session, token) if token else None
        if user is None:
            # Cookie sessions are vulnerable to cross-site websocket hijacking: check Origin.
            if not _same_origin(websocket):
                return None
            user = await services.web_auth(websocket, session)
        if user is None:
            return None
        return await load_viewer(session, user)


def _same_origin(websocket: WebSocket) -> bool:
    """The page that opened the socket is ours: the public URL, or the host it asked
    (someone browsing http://localhost:8000 while HUILIU_PUBLIC_URL says 127.0.0.1)."""
    origin = websocket.headers.get("origin")
    if not origin:
        return False
    if get_services(websocket).origin_allowed(origin):
        return True
    got = urlsplit(origin)
    return got.scheme in ("http", "https") and got.netloc == websocket.headers.get("host", "")


def _visible(viewer: Viewer) -> Callable[[Visible], bool]:
    return lambda item: viewer.can_see_channel(item.channel_id)


def _visibility(viewer: Viewer) -> Hashable:
    """What `_visible(viewer)` depends on: agents with equal keys see the same events,
    so the hub checks each event once for all of them (hub.py `_fan_out`)."""
    return ("channels", viewer.channel_ids)


async def _replay(
    db: Database, viewer: Viewer, since: int, limit: int
) -> tuple[list[LogEvent], bool]:
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
    events = [LogEvent.of_row(r) for r in rows if r.type != ACCESS_CHANGED]
    return [e for e in events if accepts(e)], True


class AgentSocket:
    """What one agent socket knows of its agent: the viewer, re-evaluated when the hub
    says their credentials changed (issue 19: a socket kept the permissions it opened
    with, and logout or deactivation left it open)."""

    __slots__ = ("sub", "viewer", "websocket")

    def __init__(self, websocket: WebSocket, viewer: Viewer, sub: Subscriber) -> None:
        self.websocket = websocket
        self.viewer = viewer
        self.sub = sub

    async def recheck(self) -> Rechecked:
        """The new filter, installed on the subscriber, and the hub's last seq then;
        None when the credential no longer holds (the socket then closes)."""
        try:
            viewer = await _authenticate(self.websocket)
        finally:
            self.sub.rechecks -= 1
        if viewer is None or viewer.id != self.viewer.id:
            return None
        self.viewer = viewer
        accepts = _visible(viewer)
        presence = get_services(self.websocket).presence
        here = presence.where.get(self.sub)
        if here is not None and not viewer.can_see_channel(here.channel_id):
            presence.drop(self.sub)  # no longer shown in a conversation they cannot see
        if self.sub.rechecks:  # another change is queued: hold until the socket gets there
            return accepts, sys.maxsize
        self.sub.filter_by(accepts, _visibility(viewer))
        return accepts, get_services(self.websocket).hub.last_seq

    async def on_frame(self, frame: Any) -> None:
        """Presence (app/realtime/presence.py): the only frames a client sends."""
        services = get_services(self.websocket)
        await services.presence.handle(services.db, self.viewer, self.sub, frame)


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
    services = get_services(websocket)
    hub = services.hub
    sub = Subscriber(accepts=_visible(viewer), user_id=viewer.id, visibility=_visibility(viewer))
    agent = AgentSocket(websocket, viewer, sub)
    hub.subscribe(sub)
    WEBSOCKETS.labels(kind="agent").inc()
    try:
        last = hub.last_seq
        if since_raw is not None:
            limit = services.settings.events_replay_limit
            missed, ok = await _replay(services.db, viewer, int(since_raw), limit)
            if not ok:
                last = await hub.current_seq()
                await websocket.send_json({"seq": last, "type": "resync", "data": {}})
            else:
                last = int(since_raw)
                for event in missed:
                    await websocket.send_text(event.wire_text())
                    last = event.seq
        await _forward(websocket, sub, last, agent.on_frame, agent.recheck)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(sub)
        services.presence.drop(sub)
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
    recheck: Callable[[], Awaitable[Rechecked]] | None = None,
) -> None:
    """The socket's one writer: sleeps on its queue, then sends everything queued, in
    order. Each event's text and frame were encoded once by the hub for every socket;
    under `huiliu serve` a burst is one write to the kernel (transport.py), elsewhere one
    ASGI send per event. Either way a burst costs this socket one wake-up, not a task and
    an `asyncio.wait` per event (make bench, live latency: most of the fan-out's CPU).
    Under `huiliu serve`, while it sleeps with nothing queued the hub writes the events'
    frames itself and leaves it asleep (`Subscriber.deliver_all`); `sub.last` is the last
    seq sent either way.

    After a `Recheck` the items the hub queued while the viewer was being re-evaluated
    (up to `held`) pass the new filter here; everything later was filtered by the hub."""
    receiver = asyncio.create_task(_drain_client(websocket, on_frame))
    receiver.add_done_callback(lambda _task: sub.queue.wake())
    queue = sub.queue
    sub.last = last
    extension = websocket.scope.get("extensions", {}).get(FRAMES_EXTENSION)
    write: Callable[[bytes], Awaitable[None]] | None = extension["write"] if extension else None
    frames: list[bytes] = []
    held = 0  # the hub's last seq when the new filter was installed
    accepts: Callable[[Visible], bool] = sub.accepts
    if extension is not None:
        sub.write_now = extension.get("write_now")
    try:
        # The reader's end wakes a waiting writer; one busy sending when it ended sees it
        # here before it waits again (or it would sleep until the next heartbeat).
        while not receiver.done():
            if not await queue.wait(HEARTBEAT_SECONDS):
                if not receiver.done():
                    await websocket.send_text(_heartbeat(sub.last))
                continue
            while queue.qsize():
                if receiver.done():  # the client left: what is queued has nowhere to go
                    return
                item = queue.get_nowait()
                if type(item) is LogEvent:
                    if item.seq <= sub.last or (item.seq <= held and not accepts(item)):
                        continue
                    if write is not None:
                        frames.append(item.frame)
                    else:
                        await websocket.send_text(item.wire_text())
                    sub.last = item.seq
                    continue
                if frames and write is not None:  # what is batched goes first, in order
                    await write(b"".join(frames))
                    frames.clear()
                if item is None:  # closed by the hub: too slow, or shutting down
                    code = CLOSE_TOO_SLOW if sub.overflowed else 1001
                    await websocket.close(code=code)
                    return
                if isinstance(item, Recheck):
                    checked = await _recheck(recheck)
                    if checked is None:  # deactivated, logged out, token revoked
                        await websocket.close(CLOSE_UNAUTHORIZED, "credentials changed")
                        return
                    if checked is RETRY:  # the database is away: the client reconnects
                        await websocket.close(1012, "try again")
                        return
                    accepts, held = checked
                elif isinstance(item, Ephemeral):  # presence: sent as is, never logged
                    if held and not accepts(item):
                        continue
                    await websocket.send_json(item.frame)
            if frames and write is not None:
                await write(b"".join(frames))
                frames.clear()
    except ClientDisconnected:
        return
    finally:
        sub.write_now = None
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver


async def _recheck(recheck: Callable[[], Awaitable[Rechecked]] | None) -> Any:
    if recheck is None:
        return None
    try:
        return await recheck()
    except Exception:
        log.warning("a socket's credentials could not be re-checked", exc_info=True)
        return RETRY


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
