"""Simulated customers writing through the real webhook paths and the widget socket.

WeChat pushes are signed (and encrypted when the channel has an EncodingAESKey)
exactly as WeChat sends them; Douyin events are signed as Douyin signs them; website
visitors speak the widget's websocket protocol (visitors.py). The server cannot tell
them from real traffic. In demo mode the simulator also reads the fake platform APIs
to notice agents' replies (website visitors receive theirs on their socket), and the
customer answers some.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel

from channels.base import utcnow
from channels.douyin import DouyinConfig
from channels.webchat.config import WebchatConfig
from channels.wechat import WeChatConfig
from sandbox.douyin.fake import FakeDouyin
from sandbox.simulator.scripts import NICKNAMES, SCENARIOS, THANKS, Scenario
from sandbox.simulator.visitors import RATE_LIMITED, Visitor
from sandbox.wechat.pushes import build_push, event_xml, message_xml
from sandbox.wecom.fake import FakeWeCom

log = logging.getLogger(__name__)

SUPPORTED = ("wechat", "douyin", "webchat", "wecom")
PREFIXES = {"wechat": "oSim", "douyin": "dy-sim-", "webchat": "web-sim-", "wecom": "wmSim"}
# A finished website visitor keeps the page open this long (to thank for a last reply).
LINGER_SECONDS = 60.0
# After the server refuses a new visitor (4429: tokens per address), start none for a while.
NEW_VISITOR_PAUSE = 60.0


@dataclass
class SimChannel:
    id: int
    type: str
    config: BaseModel


@dataclass
class Customer:
    channel: SimChannel
    external_id: str
    nickname: str
    scenario: Scenario
    next_line: int = 0
    replies_seen: int = 0
    visitor: Visitor | None = None  # website visitors: their widget socket

    @property
    def done(self) -> bool:
        return self.next_line >= len(self.scenario.lines)


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)


# Returns how many agent replies the platform's fake has received for a customer.
ReplyCounter = Callable[[Customer], int]


class Simulator:
    def __init__(
        self,
        base_url: str,
        channels: list[SimChannel],
        *,
        rate: float = 0.25,
        http: httpx.AsyncClient | None = None,
        replies: ReplyCounter | None = None,
        seed: int | None = None,
        max_customers: int = 12,
        max_sockets: int = 4,
        wecom: Mapping[int, FakeWeCom] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # WeCom customers write into the platform, which the server then pulls from: only
        # a channel whose fake platform is at hand (the demo's, in-process) can be simulated.
        self.wecom = dict(wecom or {})
        self.channels = [
            c for c in channels if c.type in SUPPORTED and (c.type != "wecom" or c.id in self.wecom)
        ]
        self.rate = rate  # customer messages per second, across all channels
        self.http = http
        self.replies = replies
        self.rng = random.Random(seed)
        self.max_customers = max_customers
        self.max_sockets = max_sockets  # website visitors with an open widget socket
        self.customers: list[Customer] = []
        self.stats = Stats()
        self._douyin: dict[int, FakeDouyin] = {}
        self._serial = 0
        self._paused: dict[int, float] = {}  # webchat channel id -> no new visitor until
        self._sockets: list[Customer] = []  # website visitors whose socket was opened

    async def run(self, duration: float | None = None) -> Stats:
        """Send at `rate` until `duration` seconds have passed (forever when None)."""
        own = self.http is None
        http = self.http or httpx.AsyncClient(timeout=10.0)
        deadline = None if duration is None else time.monotonic() + duration
        interval = 1.0 / self.rate if self.rate > 0 else 1.0
        started = time.monotonic()
        ticks = 0
        try:
            while deadline is None or time.monotonic() < deadline:
                if self.channels:
                    await self.step(http)
                ticks += 1
                # Pace against the start time, so slow requests do not lower the rate.
                delay = started + ticks * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay * self.rng.uniform(0.6, 1.4) if own else delay)
        finally:
            await self.close_visitors()
            if own:
                await http.aclose()
        return self.stats

    async def close_visitors(self) -> None:
        for customer in self._sockets:
            assert customer.visitor is not None
            await customer.visitor.close()
        self._sockets.clear()

    async def step(self, http: httpx.AsyncClient) -> None:
        """One customer action: answer an agent, continue a conversation, or start one."""
        answering = [c for c in self.customers if self._new_replies(c) and not c.done]
        if answering and self.rng.random() < 0.7:
            customer = self.rng.choice(answering)
            customer.replies_seen = self._reply_count(customer)
            await self._say(http, customer, customer.scenario.lines[customer.next_line])
            customer.next_line += 1
            return
        waiting = [c for c in self.customers if not c.done and c.next_line < 2]
        if waiting and self.rng.random() < 0.4:
            customer = self.rng.choice(waiting)
            await self._say(http, customer, customer.scenario.lines[customer.next_line])
            customer.next_line += 1
            return
        finished = [c for c in self.customers if c.done and self._new_replies(c)]
        if finished and self.rng.random() < 0.5:
            customer = self.rng.choice(finished)
            customer.replies_seen = self._reply_count(customer)
            await self._say(http, customer, self.rng.choice(THANKS))
            return
        customer = self._new_customer()
        if customer.channel.type == "wechat" and self.rng.random() < 0.3:
            await self._wechat_event(http, customer, "subscribe")
        if customer.channel.type == "wecom" and self.rng.random() < 0.5:
            # Most kf customers arrive from a 视频号 page or a link: enter_session first.
            self.wecom[customer.channel.id].customer_enters(customer.external_id)
        await self._say(http, customer, customer.scenario.lines[0])
        customer.next_line = 1

    def _reply_count(self, customer: Customer) -> int:
        if customer.visitor is not None:  # agents' replies arrive on the widget socket
            return customer.visitor.replies
        return self.replies(customer) if self.replies else 0

    def _new_replies(self, customer: Customer) -> bool:
        return self._reply_count(customer) > customer.replies_seen

    def _new_customer(self) -> Customer:
        self._serial += 1
        channel = self.channels[self._serial % len(self.channels)]
        if channel.type == "webchat" and self._paused.get(channel.id, 0) > time.monotonic():
            others = [c for c in self.channels if c.type != "webchat"]
            channel = others[self._serial % len(others)] if others else channel
        token = f"{int(time.time())}{self._serial:04d}{self.rng.randrange(1000):03d}"
        customer = Customer(
            channel=channel,
            external_id=f"{PREFIXES[channel.type]}{token}",
            nickname=self.rng.choice(NICKNAMES),
            scenario=self.rng.choice(SCENARIOS),
        )
        if channel.type == "webchat":
            config = channel.config
            assert isinstance(config, WebchatConfig)
            # Some visitors fill the pre-chat name when the form asks for it.
            asks = any(f.rstrip("!") == "name" for f in config.prechat_field)
            name = customer.nickname if asks and self.rng.random() < 0.8 else None
            rng = random.Random(self.rng.random())  # reconnect jitter, apart from the script
            customer.visitor = Visitor(self.base_url, channel.id, config, name=name, rng=rng)
        self.customers.append(customer)
        if len(self.customers) > self.max_customers:
            self.customers.pop(0)
        return customer

    async def _tidy_visitors(self, speaking: Customer) -> None:
        """Bound the open widget sockets: close those of forgotten or finished visitors
        first, then the least recently active, so `speaking` can have one."""
        now = time.monotonic()
        current = {id(c) for c in self.customers}
        opened = [c for c in self._visitors() if c is not speaking]
        for customer in opened:
            assert customer.visitor is not None
            idle = now - customer.visitor.last_active
            if id(customer) not in current or (customer.done and idle > LINGER_SECONDS):
                await customer.visitor.close()
        opened = [c for c in self._visitors() if c is not speaking]
        opened.sort(key=lambda c: (not c.done, c.visitor.last_active if c.visitor else 0))
        while opened and len(opened) >= self.max_sockets:
            customer = opened.pop(0)
            assert customer.visitor is not None
            await customer.visitor.close()

    def _visitors(self) -> list[Customer]:
        self._sockets = [c for c in self._sockets if c.visitor is not None and c.visitor.open]
        return list(self._sockets)

    async def _visitor_says(self, customer: Customer, text: str) -> None:
        assert customer.visitor is not None
        await self._tidy_visitors(customer)
        if customer not in self._sockets:
            self._sockets.append(customer)
        error = await customer.visitor.say(text)
        if error is None:
            self.stats.sent += 1
            return
        self._fail(error)
        if customer.visitor.close_code == RATE_LIMITED and customer.visitor.token is None:
            # No token was issued: the server mints few per address. Let this one go.
            self._paused[customer.channel.id] = time.monotonic() + NEW_VISITOR_PAUSE
            await customer.visitor.close()
            with contextlib.suppress(ValueError):
                self.customers.remove(customer)

    async def _say(self, http: httpx.AsyncClient, customer: Customer, text: str) -> None:
        if customer.visitor is not None:
            await self._visitor_says(customer, text)
        elif customer.channel.type == "wechat":
            xml = message_xml(customer.external_id, Content=text)
            await self._post_wechat(http, customer.channel, xml)
        elif customer.channel.type == "wecom":
            await self._post_wecom(http, customer, text)
        else:
            await self._post_douyin(http, customer, text)

    async def _wechat_event(self, http: httpx.AsyncClient, customer: Customer, event: str) -> None:
        await self._post_wechat(http, customer.channel, event_xml(customer.external_id, event))

    async def _post_wechat(self, http: httpx.AsyncClient, channel: SimChannel, xml: str) -> None:
        config = channel.config
        assert isinstance(config, WeChatConfig)
        query, body = build_push(config, xml, encrypt=config.aes_key is not None)
        url = f"{self.base_url}/webhooks/wechat/{channel.id}"
        await self._post(
            http, url, params=query, content=body, headers={"Content-Type": "text/xml"}
        )

    async def _post_wecom(self, http: httpx.AsyncClient, customer: Customer, text: str) -> None:
        """The customer writes on WeCom; WeCom sends Huiliu its encrypted notice."""
        fake = self.wecom[customer.channel.id]
        fake.customer_writes(customer.external_id, text, nickname=customer.nickname)
        query, body = fake.notice()
        url = f"{self.base_url}/webhooks/wecom/{customer.channel.id}"
        await self._post(http, url, params=query, content=body)

    async def _post_douyin(self, http: httpx.AsyncClient, customer: Customer, text: str) -> None:
        channel = customer.channel
        builder = self._douyin_builder(channel)
        headers, body = builder.customer_event(
            "im_receive_msg", customer.external_id, nickname=customer.nickname, text=text
        )
        url = f"{self.base_url}/webhooks/douyin/{channel.id}"
        await self._post(http, url, content=body, headers=headers)

    def _douyin_builder(self, channel: SimChannel) -> FakeDouyin:
        """Douyin's event layout and signature, taken from the fake (no server is started)."""
        if channel.id not in self._douyin:
            config = channel.config
            assert isinstance(config, DouyinConfig)
            self._douyin[channel.id] = FakeDouyin(
                client_key=config.client_key,
                client_secret=config.client_secret.get_secret_value(),
                open_id=config.open_id,
                clock=utcnow,
            )
        return self._douyin[channel.id]

    async def _post(self, http: httpx.AsyncClient, url: str, **kwargs: Any) -> None:
        try:
            response = await http.post(url, **kwargs)
        except httpx.HTTPError as exc:
            self._fail(type(exc).__name__)
            return
        if response.status_code == 200:
            self.stats.sent += 1
        else:
            self._fail(f"HTTP {response.status_code}")

    def _fail(self, reason: str) -> None:
        self.stats.failed += 1
        self.stats.errors[reason] = self.stats.errors.get(reason, 0) + 1
        if self.stats.failed <= 3 or self.stats.failed % 100 == 0:
            log.warning("simulator push failed: %s", reason)


async def run_forever(simulator: Simulator, startup_delay: float = 1.0) -> None:
    """The demo's background task: never dies on an error, stops when cancelled."""
    await asyncio.sleep(startup_delay)
    while True:
        with contextlib.suppress(Exception):
            await simulator.run()
        await asyncio.sleep(1.0)
