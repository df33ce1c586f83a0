"""Simulated website visitors: the widget's websocket protocol against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from channels.webchat.config import WebchatConfig
from sandbox.simulator.simulator import Customer, SimChannel, Simulator
from sandbox.simulator.visitors import Visitor, visitor_origin
from tests.conftest import Factory
from tests.support.server import running
from tests.widget.support import webchat_channel


class Server:
    def __init__(self, app: Any, host: str) -> None:
        self.app = app
        self.base = f"http://{host}"
        self.http = httpx.AsyncClient(base_url=self.base)
        self.factory = Factory(app)

    async def webchat(self, **config: Any) -> SimChannel:
        channel = await webchat_channel(self.app, **config)
        async with self.app.state.services.db.sessions() as session:
            from app.models import Channel

            row = await session.get(Channel, channel["id"])
            assert row is not None
            return SimChannel(row.id, "webchat", WebchatConfig.model_validate(row.config))


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    app = create_app(settings)
    async with running(app) as host:
        srv = Server(app, host)
        try:
            yield srv
        finally:
            await srv.http.aclose()


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    assert check()


async def webchat_conversation(srv: Server, headers: dict[str, str]) -> dict[str, Any]:
    items = (await srv.http.get("/api/v1/conversations", headers=headers)).json()["items"]
    (conv,) = [c for c in items if c["channel"]["type"] == "webchat"]
    return conv


async def test_visitors_write_over_the_widget_socket_and_hear_agents(server: Server) -> None:
    channel = await server.webchat(prechat_field=["name"])
    admin = await server.factory.user("admin")
    async with httpx.AsyncClient() as http:
        sim = Simulator(server.base, [channel], http=http, seed=1)
        try:
            await sim.step(http)
            (customer,) = sim.customers
            visitor = customer.visitor
            assert visitor is not None and visitor.open and visitor.token
            assert sim.stats.sent == 1 and sim.stats.failed == 0

            conv = await webchat_conversation(server, admin["headers"])
            msgs = (
                await server.http.get(
                    f"/api/v1/conversations/{conv['id']}/messages", headers=admin["headers"]
                )
            ).json()["items"]
            assert [m["content"] for m in msgs if m["direction"] == "inbound"] == [
                customer.scenario.lines[0]
            ]
            # This visitor filled the pre-chat name; saved with the first message.
            assert visitor.name == customer.nickname == conv["contact"]["name"]

            # An agent answers: the reply arrives on the visitor's socket.
            reply = await server.http.post(
                f"/api/v1/conversations/{conv['id']}/messages",
                json={"content": "您好，请问有什么可以帮您？"},
                headers=admin["headers"],
            )
            assert reply.status_code in (200, 201), reply.text
            await eventually(lambda: visitor.replies == 1)

            # ...and the visitor answers it, in the same conversation.
            for _ in range(30):
                await sim.step(http)
                if customer.next_line == 2:
                    break
            assert customer.next_line == 2 and customer.replies_seen == 1
            conv2 = await webchat_conversation(server, admin["headers"])
            assert conv2["id"] == conv["id"]
        finally:
            await sim.close_visitors()
    assert not visitor.open
    assert sim.stats.failed == 0


@pytest.mark.slow
async def test_a_dropped_visitor_reconnects_and_catches_up(server: Server) -> None:
    channel = await server.webchat()
    admin = await server.factory.user("admin")
    assert isinstance(channel.config, WebchatConfig)
    visitor = Visitor(server.base, channel.id, channel.config)
    try:
        assert await visitor.say("在吗？") is None
        conv = await webchat_conversation(server, admin["headers"])
        assert visitor._ws is not None
        await visitor._ws.close()  # the network drops the socket
        # Replied while the visitor was away: replayed after the reconnect.
        await server.http.post(
            f"/api/v1/conversations/{conv['id']}/messages",
            json={"content": "在的"},
            headers=admin["headers"],
        )
        await eventually(lambda: visitor.connects == 2 and visitor.replies == 1)
        assert await visitor.say("我想问一下物流") is None
        # The same visitor (its token was sent with the hello), not a new contact.
        assert (await webchat_conversation(server, admin["headers"]))["id"] == conv["id"]
    finally:
        await visitor.close()


async def test_open_visitor_sockets_are_bounded(server: Server) -> None:
    channel = await server.webchat()
    async with httpx.AsyncClient() as http:
        sim = Simulator(server.base, [channel], http=http, seed=1, max_sockets=2)
        customers: list[Customer] = []
        for _ in range(3):
            customer = sim._new_customer()
            await sim._say(http, customer, customer.scenario.lines[0])
            customers.append(customer)
        opened = [c.visitor is not None and c.visitor.open for c in customers]
        assert opened == [False, True, True]
        # A closed visitor comes back with its token when it speaks again.
        await sim._say(http, customers[0], "还在吗")
        assert sum(c.visitor is not None and c.visitor.open for c in customers) == 2
        await sim.close_visitors()
    assert sim.stats.sent == 4 and sim.stats.failed == 0
    assert not any(c.visitor and c.visitor.open for c in customers)


def test_visitors_send_an_origin_the_channel_allows() -> None:
    anywhere = WebchatConfig.model_validate({})
    assert visitor_origin("http://127.0.0.1:8000/", anywhere) == "http://127.0.0.1:8000"
    shop = WebchatConfig.model_validate({"allowed_origin": ["https://*.shop.example.com"]})
    assert visitor_origin("http://127.0.0.1:8000", shop) == "https://www.shop.example.com"


async def test_refused_new_visitors_pause_the_website_channel(server: Server) -> None:
    from app.widget.ratelimit import Rate
    from app.widget.service import Limits

    # The server mints one visitor token per address, then refuses (4429).
    server.app.state.services.widget.set_limits(
        Limits(new_visitor_per_ip=Rate(burst=1, per_second=0.001))
    )
    channel = await server.webchat()
    async with httpx.AsyncClient() as http:
        sim = Simulator(server.base, [channel], http=http, seed=2)
        first, second = sim._new_customer(), sim._new_customer()
        await sim._say(http, first, "你好")
        await sim._say(http, second, "你好")
        await sim.close_visitors()
    assert sim.stats.sent == 1 and sim.stats.errors == {"WS 4429": 1}
    assert sim.customers == [first] and channel.id in sim._paused
