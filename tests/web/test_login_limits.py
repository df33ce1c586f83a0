"""Sign-in under attack: argon2 holds no database connection and runs a few at a time; a
per-account delay that grows (without locking the owner out); common passwords refused."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.accounts import passwords
from app.models import LoginFailure, User, utcnow_for_models
from app.web import ratelimit
from tests.conftest import signed
from tests.web.support import PASSWORD, staff


def at(app: Any, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 4000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


class SlowHash:
    """Stands in for argon2: blocks in its thread until released, counts concurrency."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running = self.most = self.calls = 0

    def __call__(self, password_hash: str | None, password: str) -> bool:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.wait(10)
        with self.lock:
            self.running -= 1
        return False


async def test_a_login_hashing_holds_no_database_connection(
    app: Any, client: httpx.AsyncClient, factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While argon2 runs for a sign-in, a webhook is stored (SQLite has one connection)."""
    agent = await staff(factory)
    channel = await factory.channel()
    slow = SlowHash()
    monkeypatch.setattr(passwords, "verify_password", slow)
    login = asyncio.create_task(
        client.post("/login", data={"email": agent["email"], "password": "wrong guess"})
    )
    try:
        for _ in range(200):
            if slow.calls:
                break
            await asyncio.sleep(0.01)
        assert slow.calls == 1
        body, headers = signed(channel["secret"], {"id": "m1", "from": "c1", "text": "在吗"})
        push = client.post(f"/webhooks/test/{channel['id']}", content=body, headers=headers)
        r = await asyncio.wait_for(push, 5)
        assert r.status_code == 200
        assert not login.done()  # the sign-in is still hashing
    finally:
        slow.release.set()
    assert (await login).status_code == 401


async def test_concurrent_logins_hash_a_few_at_a_time(
    app: Any, factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = await staff(factory)
    slow = SlowHash()
    monkeypatch.setattr(passwords, "verify_password", slow)
    clients = [at(app, f"10.1.0.{i}") for i in range(8)]
    tasks = [
        asyncio.create_task(c.post("/login", data={"email": agent["email"], "password": "x"}))
        for c in clients
    ]
    try:
        for _ in range(100):
            await asyncio.sleep(0.02)
        assert slow.most == passwords.HASH_CONCURRENCY < 8
    finally:
        slow.release.set()
    assert [(await t).status_code for t in tasks] == [401] * 8
    for c in clients:
        await c.aclose()


async def test_guesses_from_many_addresses_meet_a_growing_delay(app: Any, factory: Any) -> None:
    """8 addresses x 5 guesses used to reach the password; now the account slows down."""
    agent = await staff(factory)
    wrong = {"email": agent["email"], "password": "wrong guess"}
    right = {"email": agent["email"], "password": PASSWORD}
    for i in range(ratelimit.ACCOUNT_FREE):
        async with at(app, f"10.2.0.{i}") as c:
            assert (await c.post("/login", data=wrong)).status_code == 401
    async with at(app, "10.2.0.50") as c:
        assert (await c.post("/login", data=wrong)).status_code == 401  # the 6th: recorded
        r = await c.post("/login", data=right)  # at once after: even the right one waits
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
    # The delay doubles with each failure: 10 failures within the hour -> 2**4 s.
    async with app.state.services.db.session() as session:
        now = utcnow_for_models()
        session.add_all(
            LoginFailure(email=agent["email"], ip=f"10.3.0.{i}", created_at=now) for i in range(4)
        )
    async with at(app, "10.2.0.60") as c:
        r = await c.post("/login", data=right)
        assert r.status_code == 429 and 15 <= int(r.headers["retry-after"]) <= 16
    # Once the delay has passed, the next attempt is judged on its password.
    async with app.state.services.db.session() as session:
        await session.execute(
            update(LoginFailure).values(created_at=utcnow_for_models() - timedelta(seconds=17))
        )
    async with at(app, "10.2.0.60") as c:
        assert (await c.post("/login", data=right)).status_code == 303


async def test_the_delay_is_capped_and_spares_the_owners_known_address(
    app: Any, factory: Any
) -> None:
    agent = await staff(factory)
    right = {"email": agent["email"], "password": PASSWORD}
    async with at(app, "192.168.7.7") as owner:
        assert (await owner.post("/login", data=right)).status_code == 303
    async with app.state.services.db.session() as session:
        now = utcnow_for_models()
        session.add_all(
            LoginFailure(email=agent["email"], ip=f"10.4.{i // 250}.{i % 250}", created_at=now)
            for i in range(40)
        )
    async with at(app, "10.9.9.9") as attacker:
        r = await attacker.post("/login", data=right)
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) == ratelimit.ACCOUNT_MAX_DELAY.total_seconds()
    # Not a lock-out: the owner's usual address still signs in.
    async with at(app, "192.168.7.7") as owner:
        assert (await owner.post("/login", data=right)).status_code == 303


@pytest.mark.parametrize("password", ["password1", "iloveyou", "Qwertyuiop", "  12345678 "])
async def test_common_passwords_are_refused(
    app: Any, client: httpx.AsyncClient, factory: Any, password: str
) -> None:
    admin = await factory.user("admin")
    body = {"email": "new@example.com", "name": "New", "role": "agent", "password": password}
    r = await client.post("/api/v1/users", json=body, headers=admin["headers"])
    assert r.status_code == 400 and "common" in r.json()["detail"]
    async with app.state.services.db.sessions() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(User).where(User.email == "new@example.com")
            )
            == 0
        )
    ok = {**body, "password": "柳絮 drifts over 7 bridges"}
    assert (
        await client.post("/api/v1/users", json=ok, headers=admin["headers"])
    ).status_code == 201
