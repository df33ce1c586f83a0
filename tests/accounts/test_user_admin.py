"""Admins add members and change their role and channels from /admin (the API behind it):
the same rules as `huiliu user create`, a generated password shown once, audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.models import AuditLog, User
from tests.conftest import push


async def test_admin_creates_a_member_who_can_sign_in(client: Any, factory: Any, app: Any) -> None:
    admin = await factory.user("admin")
    ch = await factory.channel()
    r = await client.post(
        "/api/v1/users",
        json={"email": " New.Agent@Example.com ", "name": "王五", "channel_ids": [ch["id"]]},
        headers=admin["headers"],
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["email"] == "new.agent@example.com"
    assert body["role"] == "agent" and body["active"] is True
    assert body["channel_ids"] == [ch["id"]]
    password = body["password"]
    assert isinstance(password, str) and len(password) >= 12
    async with app.state.services.db.session() as session:
        user = await session.scalar(select(User).where(User.email == "new.agent@example.com"))
        assert user is not None and password not in user.password_hash
        audit = await session.scalar(select(AuditLog).order_by(AuditLog.id.desc()).limit(1))
        assert audit is not None and audit.action == "user.created"
        assert audit.actor_id == admin["id"] and "password" not in str(audit.details)
    r = await client.post("/login", data={"email": "new.agent@example.com", "password": password})
    assert r.status_code == 303
    client.cookies.clear()
    # The listing shows the new member with their channel limit.
    listed = (await client.get("/api/v1/users", headers=admin["headers"])).json()["items"]
    assert any(u["id"] == body["id"] and u["channel_ids"] == [ch["id"]] for u in listed)


async def test_a_chosen_password_is_not_echoed(client: Any, factory: Any) -> None:
    admin = await factory.user("admin")
    r = await client.post(
        "/api/v1/users",
        json={"email": "s@example.com", "name": "主管", "role": "supervisor", "password": "x" * 10},
        headers=admin["headers"],
    )
    assert r.status_code == 201 and r.json()["password"] is None
    assert r.json()["role"] == "supervisor" and r.json()["channel_ids"] is None


async def test_bad_requests_change_nothing(client: Any, factory: Any, app: Any) -> None:
    admin = await factory.user("admin")
    agent = await factory.user("agent")
    ok = {"email": "a@example.com", "name": "甲"}
    cases = [
        ({**ok, "email": "not-an-email"}, 400),
        ({**ok, "role": "owner"}, 400),
        ({**ok, "password": "short"}, 422),
        ({**ok, "name": ""}, 422),
        ({**ok, "channel_ids": [999]}, 400),
    ]
    async with app.state.services.db.session() as session:
        before = len((await session.scalars(select(User))).all())
    for payload, status in cases:
        r = await client.post("/api/v1/users", json=payload, headers=admin["headers"])
        assert r.status_code == status, (payload, r.text)
    assert (
        await client.post("/api/v1/users", json=ok, headers=agent["headers"])
    ).status_code == 403
    r = await client.post("/api/v1/users", json=ok, headers=admin["headers"])
    assert r.status_code == 201
    r = await client.post("/api/v1/users", json=ok, headers=admin["headers"])
    assert r.status_code == 409
    async with app.state.services.db.session() as session:
        assert len((await session.scalars(select(User))).all()) == before + 1


async def test_changing_role_and_channels(client: Any, factory: Any, app: Any) -> None:
    admin = await factory.user("admin")
    a, b = await factory.channel(), await factory.channel()
    agent = await factory.user("agent", channels=[a["id"]])
    await push(client, b, {"id": "1", "from": "u1", "text": "你好"})
    assert (await client.get("/api/v1/conversations", headers=agent["headers"])).json()[
        "items"
    ] == []
    url = f"/api/v1/users/{agent['id']}"
    r = await client.patch(url, json={"channel_ids": [a["id"], b["id"]]}, headers=admin["headers"])
    assert r.status_code == 200 and r.json()["channel_ids"] == sorted([a["id"], b["id"]])
    items = (await client.get("/api/v1/conversations", headers=agent["headers"])).json()["items"]
    assert len(items) == 1
    r = await client.patch(
        url, json={"every_channel": True, "role": "supervisor"}, headers=admin["headers"]
    )
    assert r.json()["channel_ids"] is None and r.json()["role"] == "supervisor"
    # Guards: no self-demotion, no unknown role or channel, agents may not patch.
    own = f"/api/v1/users/{admin['id']}"
    assert (
        await client.patch(own, json={"role": "agent"}, headers=admin["headers"])
    ).status_code == 400
    assert (
        await client.patch(url, json={"role": "boss"}, headers=admin["headers"])
    ).status_code == 400
    bad = await client.patch(url, json={"channel_ids": [999]}, headers=admin["headers"])
    assert bad.status_code == 400
    assert (await client.patch(url, json={"name": "x"}, headers=agent["headers"])).status_code in (
        401,
        403,
    )
    assert (
        await client.patch("/api/v1/users/9999", json={}, headers=admin["headers"])
    ).status_code == 404
    async with app.state.services.db.session() as session:
        rows = (
            await session.scalars(
                select(AuditLog).where(AuditLog.action == "user.updated").order_by(AuditLog.id)
            )
        ).all()
    assert [r.details for r in rows] == [
        {"channels": [[a["id"]], sorted([a["id"], b["id"]])]},
        {"role": ["agent", "supervisor"], "channels": [sorted([a["id"], b["id"]]), None]},
    ]


async def test_creating_and_renaming_check_name_and_role_alike(client: Any, factory: Any) -> None:
    """One rule for a member's name (trimmed, not blank) and role, whether added or changed."""
    admin = await factory.user("admin")
    agent = await factory.user("agent")
    url = f"/api/v1/users/{agent['id']}"
    new = {"email": "b@example.com", "name": "   "}
    for r in (
        await client.post("/api/v1/users", json=new, headers=admin["headers"]),
        await client.patch(url, json={"name": "   "}, headers=admin["headers"]),
    ):
        assert r.status_code == 400 and r.json()["detail"] == "name must not be empty"
    role = "role must be one of admin, supervisor, agent (got 'boss')"
    for r in (
        await client.post(
            "/api/v1/users", json={**new, "name": "甲", "role": "boss"}, headers=admin["headers"]
        ),
        await client.patch(url, json={"role": "boss"}, headers=admin["headers"]),
    ):
        assert r.status_code == 400 and r.json()["detail"] == role
    r = await client.patch(url, json={"name": "  赵六 "}, headers=admin["headers"])
    assert r.status_code == 200 and r.json()["name"] == "赵六"
    r = await client.post("/api/v1/users", json={**new, "name": " 钱七 "}, headers=admin["headers"])
    assert r.status_code == 201 and r.json()["name"] == "钱七"
