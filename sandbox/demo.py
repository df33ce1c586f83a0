"""Demo mode: staff seeded once, one channel of each type wired to in-process fake
platform APIs, and the simulator writing as customers through the real webhooks and
as website visitors through the widget's websocket.

`huiliu serve --demo` seeds with `seed_demo` and serves `create_demo_app`: the product's
`create_app` with `DemoPlatforms` as its extension (app/extensions.py)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.actions import create_user
from app.config import Settings, get_settings
from app.db import Database
from app.main import create_app
from app.models import Channel, User
from app.workspace import create_channel, validate_config
from channels.base import dump_config, utcnow
from sandbox.campaigns import seed_campaign
from sandbox.customers import seed_customers
from sandbox.douyin.fake import FakeDouyin
from sandbox.mishaps import DEFAULT_EVERY, Mishaps
from sandbox.retention_history import seed_history
from sandbox.service_history import seed_service_history
from sandbox.simulator.simulator import SUPPORTED, Customer, SimChannel, Simulator, run_forever
from sandbox.wechat.fake import FakeWeChat
from sandbox.wecom.fake import FakeWeCom

DEMO_USERS = (
    ("admin@huiliu.local", "管理员 Admin", "admin"),
    ("supervisor@huiliu.local", "主管 王芳", "supervisor"),
    ("agent1@huiliu.local", "客服 李娜", "agent"),
    ("agent2@huiliu.local", "客服 张伟", "agent"),
)
WECHAT_TOKEN = "huiliu-demo-token"
# A fixed EncodingAESKey (43 characters) so the demo's WeChat pushes use safe mode.
WECHAT_AES_KEY = "HuiLiuDemoEncodingAESKey0123456789abcdefghi"
FAKE_WECHAT_PATH = "/_fake/wechat"
FAKE_DOUYIN_PATH = "/_fake/douyin"
FAKE_WECOM_PATH = "/_fake/wecom"
WECOM_TOKEN = "HuiliuDemoKfToken"
WECOM_AES_KEY = "HuiLiuDemoWeComKfAESKey0123456789abcdefghij"


async def seed_demo(session: AsyncSession, settings: Settings) -> None:
    """Create the demo staff once; print their logins (shown only on first start)."""
    if await session.scalar(select(func.count()).select_from(User)):
        print("demo workspace already seeded; logins were printed on the first start")
        print(
            "Sign in at",
            settings.public_url + "/login",
            "· widget:",
            settings.public_url + "/widget-demo",
        )
        return
    lines = []
    for email, name, role in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        await create_user(session, email=email, name=name, role=role, password=password)
        lines.append(f"  {role:<10} {email:<26} {password}")
    print("Huiliu demo workspace created. Sign in at", settings.public_url + "/login")
    print("\n".join(lines))
    print("Chat as a customer on the website widget:", settings.public_url + "/widget-demo")
    print("", flush=True)


def demo_settings(settings: Settings) -> Settings:
    """Point the platform API bases at the fakes mounted in this very server."""
    public = settings.public_url.rstrip("/")
    demo = settings.model_copy(update={"demo": True})
    return demo.with_api_bases(
        wechat=public + FAKE_WECHAT_PATH,
        douyin=public + FAKE_DOUYIN_PATH,
        wecom=public + FAKE_WECOM_PATH,
    )


class DemoPlatforms:
    """The fake WeChat, Douyin and WeCom APIs of a demo server and its simulator (an extension)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        mishaps_every: tuple[float, float] = DEFAULT_EVERY,
    ) -> None:
        self.settings = demo_settings(settings) if settings is not None else None
        self.wechat = FakeWeChat()  # follows real time
        self.douyin = FakeDouyin(clock=utcnow)
        self.wecom = FakeWeCom(token=WECOM_TOKEN, aes_key=WECOM_AES_KEY)
        # Now and then a platform error, so failures and retries show (sandbox/mishaps.py).
        self.mishaps = Mishaps(self.wechat, self.douyin)
        self.mishaps_every = mishaps_every
        self._tasks: list[asyncio.Task[None]] = []
        self.simulator: Simulator | None = None

    def configure(self, settings: Settings) -> Settings:
        self.settings = demo_settings(settings)
        return self.settings

    def mount(self, app: FastAPI) -> None:
        app.mount(FAKE_WECHAT_PATH, self.wechat.app)
        app.mount(FAKE_DOUYIN_PATH, self.douyin.app)
        app.mount(FAKE_WECOM_PATH, self.wecom.app)

    async def ensure_channels(self, db: Database) -> list[SimChannel]:
        """One channel of each type; the Douyin grant is renewed on every start."""
        wanted: dict[str, tuple[str, dict[str, Any]]] = {
            "wechat": (
                "汇流官方公众号",
                {
                    "app_id": self.wechat.app_id,
                    "app_secret": self.wechat.app_secret,
                    "token": WECHAT_TOKEN,
                    "aes_key": WECHAT_AES_KEY,
                },
            ),
            "douyin": ("汇流抖音旗舰店", self.douyin.config_values()),
            "webchat": (
                "汇流官网在线客服",
                {"greeting": "您好，欢迎来到汇流！有什么可以帮您？", "prechat_field": ["name"]},
            ),
            "wecom": (
                "汇流视频号客服",
                {
                    "corp_id": self.wecom.corp_id,
                    "secret": self.wecom.secret,
                    "token": WECOM_TOKEN,
                    "aes_key": WECOM_AES_KEY,
                    "open_kfid": list(self.wecom.open_kfids),
                    "welcome_message": "您好，这里是汇流视频号客服，请问有什么可以帮您？",
                },
            ),
        }
        out: list[SimChannel] = []
        async with db.session() as session:
            for channel_type, (name, raw) in wanted.items():
                channel = await session.scalar(
                    select(Channel).where(Channel.type == channel_type).order_by(Channel.id)
                )
                if channel is None:
                    channel = await create_channel(session, channel_type, name, raw)
                elif channel_type == "douyin":
                    channel.config = dump_config(validate_config(channel_type, raw))
                    channel.state = {}
                if channel_type in SUPPORTED:
                    config = validate_config(channel_type, dict(channel.config))
                    out.append(SimChannel(id=channel.id, type=channel_type, config=config))
        return out

    def replies_for(self, customer: Customer) -> int:
        """Agents' replies the fake APIs received (website visitors count their own)."""
        if customer.channel.type == "wechat":
            return sum(1 for s in self.wechat.sent if s.get("touser") == customer.external_id)
        if customer.channel.type == "douyin":
            return sum(1 for s in self.douyin.sent if s.to_user_id == customer.external_id)
        if customer.channel.type == "wecom":
            return sum(1 for s in self.wecom.sent if s.get("touser") == customer.external_id)
        return 0

    async def start(self, db: Database) -> None:
        settings = self.settings or demo_settings(get_settings())
        channels = await self.ensure_channels(db)
        await seed_customers(db)  # customers with orders, dates and due tasks
        await seed_campaign(db)  # an upcoming campaign with an invitee in every state
        await seed_service_history(db)  # a week of rated conversations for /reports
        await seed_history(db)  # a year of chats and orders, for /retention
        self.simulator = Simulator(
            settings.public_url,
            channels,
            rate=settings.demo_rate,
            replies=self.replies_for,
            wecom={c.id: self.wecom for c in channels if c.type == "wecom"},
        )
        self._tasks = [
            asyncio.create_task(run_forever(self.simulator), name="demo-simulator"),
            asyncio.create_task(self.mishaps.run_forever(self.mishaps_every), name="demo-mishaps"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def create_demo_app() -> FastAPI:
    """The app factory `huiliu serve --demo` hands uvicorn: the product plus the demo."""
    return create_app(get_settings(), extensions=[DemoPlatforms()])
