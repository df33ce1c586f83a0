"""Credential changes reach open agent sockets at once, on every process (issue 19, 4-5).

Each change (channels limited or widened, a role changed, a cookie session signed out,
a user deactivated by the API or the CLI) is a logged `user.access_changed` event that
every hub reads like any other: the user's sockets re-evaluate their viewer, or close
with 4401. Run on one server, and on two servers sharing Redis (the change made through
one, the socket on the other, whose poll is a minute: only the hub's reading of the log,
woken by the hint, can make it in time).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from app.accounts.sessions import SESSION_COOKIE, csrf_token_for
from app.config import Settings
from app.main import create_app
from app.realtime.endpoints import _forward
from app.realtime.subscribers import LogEvent, Subscriber
from tests.conftest import Factory, signed
from tests.realtime.test_fanout import FakeSocket
from tests.support.server import running

REDIS_URL = os.environ.get("HUILIU_TEST_REDIS_URL")
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"  # the Factory's


@dataclass
class Pair:
    """Where changes are made (`api`) and where the agent's socket lives (`sockets`)."""

    api: str
    sockets: str
    app: Any
    factory: Factory
    http: httpx.AsyncClient
    settings: Settings

    async def push(self, channel: dict[str, Any], msg_id: str, text: str) -> None:
        body, headers = signed(channel["secret"], {"id": msg_id, "from": "u", "text": text})
        r = await self.http.post(f"/webhooks/test/{channel['id']}", content=body, headers=headers)
        assert r.status_code == 200, r.text

    def socket(self, token: str) -> Any:
        return connect(f"ws://{self.sockets}/api/v1/events?token={token}")

    async def patch(self, admin: dict[str, Any], user: dict[str, Any], **body: Any) -> None:
        r = await self.http.patch(
            f"/api/v1/users/{user['id']}", json=body, headers=admin["headers"]
        )
        assert r.status_code == 200, r.text


@pytest.fixture(params=["one server", "two servers"])
async def pair(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Pair]:
    # The assignment heartbeat also closes deactivated users' sockets: a minute here, so
    # only the logged event can close them within the tests' timeouts.
    quiet = settings.model_copy(update={"assignment_sweep_seconds": 60})
    async with AsyncExitStack() as stack:
        if request.param == "one server":
            app = create_app(quiet)
            api = sockets = await stack.enter_async_context(running(app))
        else:
            if not REDIS_URL:
                pytest.skip("needs HUILIU_TEST_REDIS_URL")
            quiet = quiet.model_copy(update={"redis_url": REDIS_URL, "events_poll_seconds": 60})
            app, other = create_app(quiet), create_app(quiet)
            api = await stack.enter_async_context(running(app))
            sockets = await stack.enter_async_context(running(other))
            for each in (app, other):
                await asyncio.wait_for(each.state.services.hub.redis_connected.wait(), 5)
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=f"http://{api}"))
        yield Pair(api, sockets, app, Factory(app), http, quiet)


async def messages(ws: ClientConnection, timeout: float = 5.0) -> AsyncIterator[str]:
    """The content of each `message.created` the socket gets; no other event may carry
    the internal `user.access_changed` to a client."""
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        assert event["type"] != "user.access_changed"
        if event["type"] == "message.created":
            yield event["data"]["content"]


async def next_message(ws: ClientConnection, timeout: float = 5.0) -> str:
    async for content in messages(ws, timeout):
        return content
    raise AssertionError("socket ended")


async def closed_with(ws: ClientConnection, timeout: float = 5.0) -> int:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_limiting_an_agent_to_a_channel_stops_the_others_at_once(pair: Pair) -> None:
    a, b = await pair.factory.channel("A"), await pair.factory.channel("B")
    admin, agent = await pair.factory.user("admin"), await pair.factory.user("agent")
    async with pair.socket(agent["token"]) as ws:
        await pair.push(b, "b1", "B before")
        assert await next_message(ws) == "B before"
        await pair.patch(admin, agent, channel_ids=[a["id"]])
        await pair.push(b, "b2", "B after")
        await pair.push(a, "a1", "A after")
        # Before the fix the socket kept its viewer: "B after" came first.
        assert await next_message(ws) == "A after"


async def test_widening_an_agents_channels_shows_them_at_once(pair: Pair) -> None:
    a, b = await pair.factory.channel("A"), await pair.factory.channel("B")
    admin = await pair.factory.user("admin")
    agent = await pair.factory.user("agent", channels=[a["id"]])
    async with pair.socket(agent["token"]) as ws:
        await pair.push(b, "b1", "B hidden")
        await pair.push(a, "a1", "A shown")
        assert await next_message(ws) == "A shown"
        await pair.patch(admin, agent, every_channel=True)
        await pair.push(b, "b2", "B shown")
        assert await next_message(ws) == "B shown"


async def test_demoting_a_supervisor_limits_their_socket(pair: Pair) -> None:
    a, b = await pair.factory.channel("A"), await pair.factory.channel("B")
    admin = await pair.factory.user("admin")
    lead = await pair.factory.user("supervisor", channels=[a["id"]])
    async with pair.socket(lead["token"]) as ws:
        await pair.push(b, "b1", "B seen by a supervisor")
        assert await next_message(ws) == "B seen by a supervisor"
        await pair.patch(admin, lead, role="agent")
        await pair.push(b, "b2", "B after demotion")
        await pair.push(a, "a1", "A after demotion")
        assert await next_message(ws) == "A after demotion"


async def test_a_rename_changes_nothing_for_the_socket(pair: Pair) -> None:
    a = await pair.factory.channel("A")
    admin, agent = await pair.factory.user("admin"), await pair.factory.user("agent")
    async with pair.socket(agent["token"]) as ws:
        await pair.patch(admin, agent, name="新名字")
        await pair.push(a, "a1", "still here")
        assert await next_message(ws) == "still here"


async def _sign_in(pair: Pair, host: str, email: str) -> tuple[str, str]:
    """A cookie session through the login form: (session token, CSRF token)."""
    async with httpx.AsyncClient(base_url=f"http://{host}") as browser:
        r = await browser.post("/login", data={"email": email, "password": PASSWORD})
        assert r.status_code == 303, r.text
        token = browser.cookies[SESSION_COOKIE]
    csrf = csrf_token_for(pair.app.state.services.secret_key(), token)
    return token, csrf


async def test_logout_closes_the_sockets_of_that_session_only(pair: Pair) -> None:
    a = await pair.factory.channel("A")
    agent = await pair.factory.user("agent")
    email = f"agent{pair.factory.n}@example.com"
    leaving, csrf = await _sign_in(pair, pair.api, email)
    staying, _ = await _sign_in(pair, pair.api, email)
    origin = f"http://{pair.sockets}"

    def cookie_socket(token: str) -> Any:
        return connect(
            f"ws://{pair.sockets}/api/v1/events",
            origin=origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"{SESSION_COOKIE}={token}"},
        )

    async with (
        cookie_socket(leaving) as gone,
        cookie_socket(staying) as kept,
        pair.socket(agent["token"]) as api_socket,
    ):
        await pair.push(a, "a1", "before")
        for ws in (gone, kept, api_socket):
            assert await next_message(ws) == "before"
        r = await pair.http.post(
            "/logout",
            headers={"X-CSRF-Token": csrf, "Cookie": f"{SESSION_COOKIE}={leaving}"},
        )
        assert r.status_code == 303
        # Before the fix the signed-out session's socket stayed open and kept receiving.
        assert await closed_with(gone) == 4401
        await pair.push(a, "a2", "after")
        for ws in (kept, api_socket):
            assert await next_message(ws) == "after"


async def test_deactivation_by_the_api_closes_the_socket_with_4401(pair: Pair) -> None:
    admin, agent = await pair.factory.user("admin"), await pair.factory.user("agent")
    async with pair.socket(agent["token"]) as ws:
        await asyncio.sleep(0.1)  # subscribed
        r = await pair.http.post(
            f"/api/v1/users/{agent['id']}/deactivate", headers=admin["headers"]
        )
        assert r.status_code == 200
        assert await closed_with(ws) == 4401


async def test_deactivation_by_the_cli_closes_the_socket_at_once(pair: Pair) -> None:
    """Before the fix the socket lived until the assignment heartbeat (4.5 s measured;
    a minute here) and kept receiving messages meanwhile."""
    a = await pair.factory.channel("A")
    agent = await pair.factory.user("agent")
    email = f"agent{pair.factory.n}@example.com"
    env = {
        **os.environ,
        "HUILIU_DATABASE_URL": pair.settings.database_url,
        "HUILIU_REDIS_URL": pair.settings.redis_url or "",
        "HUILIU_SECRET_KEY": "cli-test-secret-key-0123456789abcdef",
        "PYTHONPATH": str(ROOT),
    }
    code = "import sys; from app.cli import main; sys.exit(main(sys.argv[1:]))"
    async with pair.socket(agent["token"]) as ws:
        await pair.push(a, "a1", "before")
        assert await next_message(ws) == "before"
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, "user", "deactivate", "--email", email,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(cli.communicate(), 60)
        assert cli.returncode == 0, err.decode()
        assert json.loads(out)["active"] is False
        # The CLI's own start-up takes seconds; the socket must close within the poll
        # (one server, 2 s) or at once through the Redis hint (two servers, poll 60 s).
        assert await closed_with(ws, timeout=4) == 4401


def _event(seq: int, channel_id: int) -> LogEvent:
    return LogEvent(seq, "message.created", {"seq": seq}, channel_id=channel_id)


async def test_events_queued_while_a_socket_rechecks_pass_the_new_filter() -> None:
    """The hub keeps handing events out while the socket reads the new viewer: those are
    held (nothing the new permissions allow is lost) and filtered with the new viewer;
    later ones are filtered by the hub as usual."""
    ws = FakeSocket()
    sub = Subscriber(accepts=lambda item: True)
    reading = asyncio.Event()
    proceed = asyncio.Event()

    async def recheck() -> Any:
        reading.set()
        await proceed.wait()  # the database read of the new viewer
        sub.rechecks -= 1
        only_one = lambda item: item.channel_id == 1  # noqa: E731
        sub.accepts = only_one
        return only_one, 3

    task = asyncio.create_task(_forward(ws, sub, 0, None, recheck))  # type: ignore[arg-type]
    sub.deliver(_event(1, 2))  # before the change: the old viewer saw channel 2
    sub.recheck(2)
    await asyncio.wait_for(reading.wait(), 1)
    sub.deliver(_event(2, 2))  # held meanwhile, then dropped by the new filter
    sub.deliver(_event(3, 1))  # held, then kept
    proceed.set()
    for _ in range(5):
        await asyncio.sleep(0)
    sub.deliver(_event(4, 2))  # after: the hub's filter is the new one
    sub.deliver(_event(5, 1))
    for _ in range(5):
        await asyncio.sleep(0)
    assert [json.loads(t)["seq"] for t in ws.sent] == [1, 3, 5]
    ws.gone.set()
    await asyncio.wait_for(task, 1)


async def test_a_socket_whose_credential_is_gone_closes_with_4401() -> None:
    ws = FakeSocket()
    sub = Subscriber(accepts=lambda item: True)

    async def recheck() -> Any:
        return None

    task = asyncio.create_task(_forward(ws, sub, 0, None, recheck))  # type: ignore[arg-type]
    sub.recheck(1)
    sub.deliver(_event(2, 1))
    await asyncio.wait_for(task, 1)
    assert ws.sent == ["close 4401"]
