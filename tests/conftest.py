"""Fixtures: a migrated database (SQLite, or PostgreSQL when HUILIU_TEST_DATABASE_URL is set),
an app with its lifespan running, an API client, and factories for users and channels."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.cli import run_migrations
from app.config import Settings
from app.main import create_app
from app.models import Base
from channels import registry
from tests.support import loopback

PG_URL = os.environ.get("HUILIU_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("HUILIU_TEST_REDIS_URL")

# Markers by place (pyproject registers them; `make test-fast` deselects them): a whole
# directory, a browser fixture, or a `slow` mark on the test itself.
MARKED_DIRS = {"faults": "faults", "fuzz": "fuzz"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(tests_dir).parts
        if parts[0] in MARKED_DIRS:
            item.add_marker(MARKED_DIRS[parts[0]])
        if "browser" in getattr(item, "fixturenames", ()) or item.path.name == "test_browser.py":
            item.add_marker("browser")


# Every table the tests may fill: the models' own, and the search index's (made by its
# migration, not a model), so a new model is emptied between tests without a list to update.
TABLES = ", ".join(
    sorted({table.name for table in Base.metadata.sorted_tables} | {"message_search"})
)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path | str:
    """Migrate once per session: a SQLite file to copy, or the PostgreSQL test database."""
    if PG_URL:
        import asyncio

        async def reset() -> None:
            engine = create_async_engine(PG_URL)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await engine.dispose()

        asyncio.run(reset())
        run_migrations(PG_URL)
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "huiliu.db"
    run_migrations(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def db_url(template_db: Path | str, tmp_path: Path) -> str:
    if isinstance(template_db, str):
        engine = create_async_engine(template_db)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        await engine.dispose()
        return template_db
    target = tmp_path / "huiliu.db"
    shutil.copyfile(template_db, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture(autouse=True)
def _test_connector() -> Iterator[None]:
    registry.CONNECTORS["test"] = loopback.connector
    loopback.PLATFORM.reset()
    yield
    loopback.PLATFORM.reset()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        redis_url=None,
        secret_key="test-secret-key-not-for-production-0123456789",
        public_url="http://testserver",
        attachments_dir=tmp_path / "attachments",
        delivery_poll_seconds=0.05,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings, run_workers=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


class Factory:
    """Creates users, tokens and channels through the same actions the CLI uses."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.n = 0

    async def user(
        self, role: str = "agent", channels: list[int] | None = None, name: str | None = None
    ) -> dict[str, Any]:
        from app.accounts.actions import create_api_token, create_user

        self.n += 1
        async with self.app.state.services.db.session() as session:
            user = await create_user(
                session,
                email=f"{role}{self.n}@example.com",
                name=name or f"{role.title()} {self.n}",
                role=role,
                password="correct horse battery",
                channel_ids=channels or [],
            )
            token = await create_api_token(session, user)
            return {
                "id": user.id,
                "name": user.name,
                "token": token,
                "headers": {"Authorization": f"Bearer {token}"},
            }

    async def channel(self, name: str = "Test", secret: str = "s3cret") -> dict[str, Any]:
        from app.workspace import create_channel

        async with self.app.state.services.db.session() as session:
            channel = await create_channel(session, "test", name, {"secret": secret})
            return {"id": channel.id, "secret": secret}


@pytest.fixture
def factory(app: Any) -> Factory:
    return Factory(app)


def signed(secret: str, payload: Any) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return body, {
        "X-Test-Signature": loopback.sign(secret, body),
        "Content-Type": "application/json",
    }


async def push(client: httpx.AsyncClient, channel: dict[str, Any], payload: Any) -> httpx.Response:
    body, headers = signed(channel["secret"], payload)
    return await client.post(f"/webhooks/test/{channel['id']}", content=body, headers=headers)
