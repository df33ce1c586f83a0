"""Staff turnover end to end: deactivation (API and its effects), reactivation, the
guards, the websocket closed at once, and channels archived instead of deleted."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import select
from websockets.asyncio.client import connect

from app.config import Settings
from app.main import create_app
from app.models import AuditLog, EventLog, User
from tests.conftest import Factory, push
from tests.support.server import running

PASSWORD = "correct horse battery"  # tests/conftest.py Factory


async def email_of(app: Any, user_id: int) -> str:
    async with app.state.services.db.session() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user.email


async def _setup(client: Any, factory: Any) -> dict[str, Any]:
    ch = await factory.channel()
    w: dict[str, Any] = {
        "ch": ch,
        "admin": await factory.user("admin"),
        "leaver": await factory.user("agent", name="张三"),
        "successor": await factory.user("agent", name="李四"),
    }
    for i in range(3):
        await push(client, ch, {"id": str(i), "from": f"u{i}", "name": f"客户{i}", "text": "你好"})
    convs = (await client.get("/api/v1/conversations", headers=w["admin"]["headers"])).json()
    w["convs"] = sorted(c["id"] for c in convs["items"])
    h = w["leaver"]["headers"]
    for cid in w["convs"]:
        r = await client.post(
            f"/api/v1/conversations/{cid}/assignment",
            json={"assignee_id": w["leaver"]["id"]},
            headers=h,
        )
        assert r.status_code == 200
    open_, pending, resolved = w["convs"]
    r = await client.post(
        f"/api/v1/conversations/{open_}/messages", json={"content": "我来处理"}, headers=h
    )
    assert r.status_code == 201
    for cid, status in ((pending, "pending"), (resolved, "resolved")):
        r = await client.post(
            f"/api/v1/conversations/{cid}/status", json={"status": status}, headers=h
        )
        assert r.status_code == 200
    return w


async def test_deactivation_hands_over_and_revokes_at_once(
    client: Any, factory: Any, app: Any
) -> None:
    w = await _setup(client, factory)
    leaver, successor, admin = w["leaver"], w["successor"], w["admin"]
    open_, pending, resolved = w["convs"]
    email = await email_of(app, leaver["id"])
    r = await client.post("/login", data={"email": email, "password": PASSWORD})
    assert r.status_code == 303  # the client now carries the leaver's session cookie
    assert (await client.get("/api/v1/conversations")).status_code == 200
    async with app.state.services.db.session() as session:
        seq = await session.scalar(select(EventLog.seq).order_by(EventLog.seq.desc()).limit(1))
        audit_id = await session.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1))

    r = await client.post(
        f"/api/v1/users/{leaver['id']}/deactivate",
        json={"reassign_to": successor["id"]},
        headers=admin["headers"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["active"] is False
    assert body["handovers"] == [
        {"conversation_id": open_, "assignee_id": successor["id"]},
        {"conversation_id": pending, "assignee_id": successor["id"]},
    ]
    assert body["tokens_revoked"] == 1 and body["sessions_revoked"] == 1

    # At once: the token is dead, the session cookie is dead, sign-in is refused.
    r = await client.get("/api/v1/conversations", headers=leaver["headers"])
    assert r.status_code == 401
    assert (await client.get("/api/v1/conversations")).status_code == 401  # the cookie
    client.cookies.clear()
    r = await client.post("/login", data={"email": email, "password": PASSWORD})
    assert r.status_code == 401

    # Open and pending moved with a handover note; resolved untouched; history intact.
    h = admin["headers"]
    for cid, status in ((open_, "open"), (pending, "pending")):
        conv = (await client.get(f"/api/v1/conversations/{cid}", headers=h)).json()
        assert conv["assignee"]["id"] == successor["id"] and conv["status"] == status
        msgs = (await client.get(f"/api/v1/conversations/{cid}/messages", headers=h)).json()
        note = msgs["items"][0]
        assert note["content"] == "会话由 张三 移交给 李四 (员工离职)"
        assert note["private"] is True and note["sender"]["type"] == "system"
        assert note["delivery_status"] is None
    done = (await client.get(f"/api/v1/conversations/{resolved}", headers=h)).json()
    assert done["assignee"]["id"] == leaver["id"] and done["status"] == "resolved"
    msgs = (await client.get(f"/api/v1/conversations/{open_}/messages", headers=h)).json()
    mine = [m for m in msgs["items"] if m["sender"]["type"] == "user"]
    assert [(m["content"], m["sender"]["name"]) for m in mine] == [("我来处理", "张三")]

    # Events: the credential change (their sockets close), then a note and an assignment
    # per moved conversation; one audit entry.
    async with app.state.services.db.session() as session:
        events = (
            await session.scalars(select(EventLog).where(EventLog.seq > seq).order_by(EventLog.seq))
        ).all()
        audits = (
            await session.scalars(
                select(AuditLog).where(AuditLog.id > audit_id).order_by(AuditLog.id)
            )
        ).all()
    assert [(e.type, e.conversation_id) for e in events] == [
        ("user.access_changed", None),
        ("message.created", open_),
        ("conversation.assigned", open_),
        ("message.created", pending),
        ("conversation.assigned", pending),
    ]
    assert events[0].data == {"user_id": leaver["id"]}
    assert events[2].data["assignee"] == {"id": successor["id"], "name": "李四"}
    (entry,) = audits  # one entry, not one per conversation
    assert entry.action == "user.deactivated" and entry.actor_id == admin["id"]
    assert entry.details["handovers"] == [[open_, successor["id"]], [pending, successor["id"]]]
    assert entry.details["successor"] == successor["id"] and entry.details["tokens_revoked"] == 1

    users = (await client.get("/api/v1/users", headers=h)).json()["items"]
    assert {u["id"]: u["active"] for u in users}[leaver["id"]] is False


async def test_without_a_successor_the_rule_decides(client: Any, factory: Any, app: Any) -> None:
    app.state.services.settings.assignment_capacity = 2
    w = await _setup(client, factory)
    other = await factory.channel("other", "so")
    await factory.user("agent", channels=[other["id"]])  # cannot take these
    busy = w["successor"]  # will hold 2 already
    free = await factory.user("agent", name="王五")
    for i in range(2):
        await push(client, w["ch"], {"id": f"b{i}", "from": f"b{i}", "text": "hi"})
    items = (
        await client.get("/api/v1/conversations?assignee=none", headers=w["admin"]["headers"])
    ).json()
    for c in items["items"]:
        await client.post(
            f"/api/v1/conversations/{c['id']}/assignment",
            json={"assignee_id": busy["id"]},
            headers=w["admin"]["headers"],
        )
    r = await client.post(
        f"/api/v1/users/{w['leaver']['id']}/deactivate", headers=w["admin"]["headers"]
    )
    assert r.status_code == 200, r.text
    open_, pending, _ = w["convs"]
    # 王五 has room for two: both go there (李四 is at capacity).
    assert r.json()["handovers"] == [
        {"conversation_id": open_, "assignee_id": free["id"]},
        {"conversation_id": pending, "assignee_id": free["id"]},
    ]


async def test_nobody_with_room_means_the_queue(client: Any, factory: Any, app: Any) -> None:
    app.state.services.settings.assignment_capacity = 1
    w = await _setup(client, factory)
    await client.post(  # 李四 holds one: full
        f"/api/v1/conversations/{w['convs'][2]}/assignment",
        json={"assignee_id": w["successor"]["id"]},
        headers=w["admin"]["headers"],
    )
    await client.post(
        f"/api/v1/conversations/{w['convs'][2]}/status",
        json={"status": "open"},
        headers=w["admin"]["headers"],
    )
    r = await client.post(
        f"/api/v1/users/{w['leaver']['id']}/deactivate",
        json={"reassign_to": None},
        headers=w["admin"]["headers"],
    )
    assert [h["assignee_id"] for h in r.json()["handovers"]] == [None, None]
    msgs = (
        await client.get(
            f"/api/v1/conversations/{w['convs'][0]}/messages", headers=w["admin"]["headers"]
        )
    ).json()
    assert msgs["items"][0]["content"] == "会话由 张三 移交至待分配队列 (员工离职)"


async def test_a_successor_not_on_the_channel_is_skipped_for_it(
    client: Any, factory: Any, app: Any
) -> None:
    w = await _setup(client, factory)
    other = await factory.channel("other", "so")
    elsewhere = await factory.user("agent", channels=[other["id"]])
    r = await client.post(
        f"/api/v1/users/{w['leaver']['id']}/deactivate",
        json={"reassign_to": elsewhere["id"]},
        headers=w["admin"]["headers"],
    )
    # The rule picks 李四 (the only other agent of this channel).
    assert [h["assignee_id"] for h in r.json()["handovers"]] == [w["successor"]["id"]] * 2


async def test_guards(client: Any, factory: Any, app: Any) -> None:
    admin = await factory.user("admin")
    agent = await factory.user("agent")
    supervisor = await factory.user("supervisor")
    url = f"/api/v1/users/{agent['id']}/deactivate"
    for who in (agent, supervisor):
        assert (await client.post(url, headers=who["headers"])).status_code == 403
    r = await client.post(f"/api/v1/users/{admin['id']}/deactivate", headers=admin["headers"])
    assert r.status_code == 409 and "yourself" in r.json()["detail"]
    for body, status in (
        ({"reassign_to": 999999}, 400),
        ({"reassign_to": agent["id"]}, 400),
        ({"reassign_to": "x"}, 422),
    ):
        r = await client.post(url, json=body, headers=admin["headers"])
        assert r.status_code == status, (body, r.text)
    assert (
        await client.post("/api/v1/users/999999/deactivate", headers=admin["headers"])
    ).status_code == 404
    assert (await client.post(url, headers=admin["headers"])).status_code == 200
    assert (await client.post(url, headers=admin["headers"])).status_code == 409
    other = await factory.user("agent")
    r = await client.post(
        f"/api/v1/users/{other['id']}/deactivate",
        json={"reassign_to": agent["id"]},
        headers=admin["headers"],
    )
    assert r.status_code == 400 and "deactivated" in r.json()["detail"]

    # The last active admin stays (another admin may deactivate the first one).
    second = await factory.user("admin")
    r = await client.post(f"/api/v1/users/{admin['id']}/deactivate", headers=second["headers"])
    assert r.status_code == 200
    from app.accounts.offboarding import deactivate_user

    with pytest.raises(Exception, match="last active admin"):
        async with app.state.services.db.session() as session:
            user = await session.get(User, second["id"])
            assert user is not None
            await deactivate_user(session, user)


async def test_reactivation(client: Any, factory: Any, app: Any) -> None:
    admin = await factory.user("admin")
    agent = await factory.user("agent")
    await client.post(f"/api/v1/users/{agent['id']}/deactivate", headers=admin["headers"])
    r = await client.post(f"/api/v1/users/{agent['id']}/reactivate", headers=admin["headers"])
    assert r.status_code == 200 and r.json()["active"] is True
    assert (
        await client.post(f"/api/v1/users/{agent['id']}/reactivate", headers=admin["headers"])
    ).status_code == 409
    # Old tokens stay revoked; signing in works again.
    assert (await client.get("/api/v1/conversations", headers=agent["headers"])).status_code == 401
    email = await email_of(app, agent["id"])
    r = await client.post("/login", data={"email": email, "password": PASSWORD})
    assert r.status_code == 303
    client.cookies.clear()
    async with app.state.services.db.session() as session:
        actions = list(await session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions[-2:] == ["user.deactivated", "user.reactivated"]
    r = await client.post(f"/api/v1/users/{agent['id']}/reactivate", headers=agent["headers"])
    assert r.status_code == 401


async def test_workload_preview(client: Any, factory: Any) -> None:
    w = await _setup(client, factory)
    r = await client.get(
        f"/api/v1/users/{w['leaver']['id']}/workload", headers=w["admin"]["headers"]
    )
    assert r.json() == {"user_id": w["leaver"]["id"], "open": 1, "pending": 1}


async def test_channels_are_archived_never_deleted(client: Any, factory: Any, app: Any) -> None:
    ch = await factory.channel()
    admin = await factory.user("admin")
    agent = await factory.user("agent")
    await push(client, ch, {"id": "1", "from": "u", "text": "历史消息"})
    url = f"/api/v1/channels/{ch['id']}"
    assert (await client.post(f"{url}/archive", headers=agent["headers"])).status_code == 403
    r = await client.post(f"{url}/archive", headers=admin["headers"])
    assert r.status_code == 200 and r.json()["archived"] is True
    # History stays readable; the webhook no longer accepts messages.
    convs = (await client.get("/api/v1/conversations", headers=agent["headers"])).json()["items"]
    assert convs[0]["last_message_preview"] == "历史消息"
    assert (await push(client, ch, {"id": "2", "from": "u", "text": "x"})).status_code == 404
    r = await client.post(f"{url}/unarchive", headers=admin["headers"])
    assert r.json()["archived"] is False
    assert (
        await client.post("/api/v1/channels/999/archive", headers=admin["headers"])
    ).status_code == 404
    async with app.state.services.db.session() as session:
        actions = list(
            await session.scalars(
                select(AuditLog.action)
                .where(AuditLog.object_type == "channel")
                .order_by(AuditLog.id)
            )
        )
    assert actions == ["channel.created", "channel.archived", "channel.unarchived"]
    for method in ("DELETE",):
        r = await client.request(method, url, headers=admin["headers"])
        assert r.status_code in (404, 405)


async def deactivate_while_connected(
    api_host: str, socket_host: str, admin: dict[str, Any], agent: dict[str, Any]
) -> None:
    """Deactivate `agent` through `api_host` while its socket is open on `socket_host`;
    the socket must be closed by the server (4401) without the client doing anything."""
    async with httpx.AsyncClient(base_url=f"http://{api_host}") as http:
        async with connect(f"ws://{socket_host}/api/v1/events?token={agent['token']}") as ws:
            await asyncio.sleep(0.1)  # subscribed
            r = await http.post(f"/api/v1/users/{agent['id']}/deactivate", headers=admin["headers"])
            assert r.status_code == 200
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_open_websocket_is_closed_at_once(settings: Settings) -> None:
    app = create_app(settings)
    async with running(app) as host:
        factory = Factory(app)
        admin = await factory.user("admin")
        agent = await factory.user("agent")
        await deactivate_while_connected(host, host, admin, agent)
        # A deactivated user's token no longer opens a socket.
        async with connect(f"ws://{host}/api/v1/events?token={agent['token']}") as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


@pytest.mark.skipif(
    not os.environ.get("HUILIU_TEST_REDIS_URL"), reason="needs HUILIU_TEST_REDIS_URL"
)
async def test_a_socket_on_another_process_is_closed_at_once(settings: Settings) -> None:
    """Deactivation through one process closes the user's socket on another through Redis,
    well before that process's heartbeat (set to a minute here) would notice."""
    shared = settings.model_copy(
        update={"redis_url": os.environ["HUILIU_TEST_REDIS_URL"], "assignment_sweep_seconds": 60}
    )
    app_a, app_b = create_app(shared), create_app(shared)
    async with running(app_a) as host_a, running(app_b) as host_b:
        factory = Factory(app_a)
        admin = await factory.user("admin")
        agent = await factory.user("agent")
        for app in (app_a, app_b):
            await asyncio.wait_for(app.state.services.hub.redis_connected.wait(), 5)
        await deactivate_while_connected(host_a, host_b, admin, agent)
