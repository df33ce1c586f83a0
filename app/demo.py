"""Demo mode: staff seeded once, one channel of each type wired to in-process fake
platform APIs, and the simulator writing as customers through the real webhooks and
as website visitors through the widget's websocket."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.actions import create_user
from app.config import Settings
from app.contacts.demo_seed import seed_customers
from app.db import Database
from app.models import Channel, User
from app.simulator.simulator import SUPPORTED, Customer, SimChannel, Simulator, run_forever
from app.workspace import create_channel, validate_config
from channels.base import dump_config, utcnow
from channels.douyin.fake import FakeDouyin
from channels.wechat.fake import FakeWeChat

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
    return settings.model_copy(
        update={
            "wechat_api_base": public + FAKE_WECHAT_PATH,
            "douyin_api_base": public + FAKE_DOUYIN_PATH,
        }
    )


class DemoPlatforms:
    """The fake WeChat and Douyin APIs of a demo server, and its simulator."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.wechat = FakeWeChat()  # follows real time
        self.douyin = FakeDouyin(clock=utcnow)
        self._task: asyncio.Task[None] | None = None
        self.simulator: Simulator | None = None

    def mount(self, app: FastAPI) -> None:
        app.mount(FAKE_WECHAT_PATH, self.wechat.app)
        app.mount(FAKE_DOUYIN_PATH, self.douyin.app)

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
        return 0

    async def start(self, db: Database) -> None:
        channels = await self.ensure_channels(db)
        await seed_customers(db)  # issue 15: customers with orders, dates and due tasks
        self.simulator = Simulator(
            self.settings.public_url,
            channels,
            rate=self.settings.demo_rate,
            replies=self.replies_for,
        )
        self._task = asyncio.create_task(run_forever(self.simulator), name="demo-simulator")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
