"""The supervisors' archive: filters, read-only detail, audit entries, export, roles."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from app.archive.search import SearchTimeout, guarded
from app.models import AuditLog
from tests.conftest import push


async def _world(client: Any, factory: Any) -> dict[str, Any]:
    a = await factory.channel("A", "sa")
    b = await factory.channel("B", "sb")
    w: dict[str, Any] = {
        "a": a,
        "b": b,
        "admin": await factory.user("admin"),
        "supervisor": await factory.user("supervisor"),
        "agent": await factory.user("agent", name="王芳"),
    }
    await push(client, a, {"id": "a1", "from": "ua", "name": "张三", "text": "优惠券不能用"})
    await push(client, b, {"id": "b1", "from": "ub", "name": "李四", "text": "发票抬头"})
    await push(client, b, {"id": "b2", "from": "ub", "name": "李四", "text": "还有物流"})
    items = (await client.get("/api/v1/conversations", headers=w["admin"]["headers"])).json()
    w["conv"] = {c["contact"]["name"]: c for c in items["items"]}
    return w


async def _audit(app: Any, action: str) -> list[AuditLog]:
    async with app.state.services.db.session() as session:
        stmt = select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        return list((await session.scalars(stmt)).all())


def ids(r: Any) -> set[int]:
    assert r.status_code == 200, r.text
    return {c["id"] for c in r.json()["items"]}


async def test_agents_get_403_supervisors_and_admins_read(client: Any, factory: Any) -> None:
    w = await _world(client, factory)
    conv = w["conv"]["张三"]["id"]
    for path in (
        "/api/v1/archive/conversations",
        f"/api/v1/archive/conversations/{conv}",
        "/api/v1/archive/export",
        "/api/v1/audit",
    ):
        r = await client.get(path, headers=w["agent"]["headers"])
        assert r.status_code == 403 and r.json()["detail"], path
    assert (
        await client.get("/api/v1/audit", headers=w["supervisor"]["headers"])
    ).status_code == 403
    for role in ("supervisor", "admin"):
        r = await client.get("/api/v1/archive/conversations", headers=w[role]["headers"])
        assert len(ids(r)) == 2
    assert (await client.get("/api/v1/archive/conversations")).status_code == 401


async def test_filters(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory)
    h = w["supervisor"]["headers"]
    zhang, li = w["conv"]["张三"]["id"], w["conv"]["李四"]["id"]

    async def get(**params: Any) -> set[int]:
        return ids(await client.get("/api/v1/archive/conversations", params=params, headers=h))

    assert await get(channel_id=w["a"]["id"]) == {zhang}
    assert await get(contact="李") == {li}
    assert await get(contact="%") == set()  # LIKE wildcards are literal
    assert await get(q="惠券") == {zhang}
    assert await get(q="物流") == {li}
    assert await get(status="open") == {zhang, li}
    assert await get(status="resolved") == set()
    assert await get(since="2020-01-01", until="2020-02-01") == set()
    assert await get(since="2020-01-01") == {zhang, li}

    # Tags (contact_tags) and phone/email on the contact.
    r = await client.patch(
        f"/api/v1/contacts/{w['conv']['李四']['contact']['id']}", json={"tags": ["VIP"]}, headers=h
    )
    assert r.status_code == 200, r.text
    assert await get(tag="vip") == {li}

    # Agent: held or wrote in; still found after they are deactivated.
    agent = w["agent"]
    r = await client.post(
        f"/api/v1/conversations/{zhang}/messages",
        json={"content": "您好，我是王芳"},
        headers=agent["headers"],
    )
    assert r.status_code == 201
    await client.post(
        f"/api/v1/conversations/{zhang}/status", json={"status": "resolved"}, headers=h
    )
    r = await client.post(
        f"/api/v1/users/{agent['id']}/deactivate", json={}, headers=w["admin"]["headers"]
    )
    assert r.status_code == 200, r.text
    assert await get(agent_id=agent["id"]) == {zhang}
    assert await get(agent_id=agent["id"], status="resolved") == {zhang}

    r = await client.get("/api/v1/archive/conversations?status=closed", headers=h)
    assert r.status_code == 422
    r = await client.get("/api/v1/archive/conversations?q=%EF%BC%81", headers=h)  # only "！"
    assert r.status_code == 400


async def test_pages_cover_everything_once(client: Any, factory: Any) -> None:
    ch = await factory.channel()
    admin = await factory.user("admin")
    for i in range(7):
        await push(client, ch, {"id": str(i), "from": f"u{i}", "text": "hi"})
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = await client.get(
            "/api/v1/archive/conversations", params=params, headers=admin["headers"]
        )
        seen += [c["id"] for c in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 and seen == sorted(seen, reverse=True)


async def test_detail_is_read_only_and_audited(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory)
    li = w["conv"]["李四"]
    assert li["unread_count"] == 2
    h = w["supervisor"]["headers"]
    r = await client.get(f"/api/v1/archive/conversations/{li['id']}", headers=h)
    assert r.status_code == 200
    body = r.json()
    assert [m["content"] for m in body["messages"]] == ["发票抬头", "还有物流"]  # oldest first
    assert body["contact"]["name"] == "李四" and body["contact"]["tags"] == []
    assert body["conversation"]["unread_count"] == 2
    again = await client.get(f"/api/v1/conversations/{li['id']}", headers=h)
    assert again.json()["unread_count"] == 2  # reading the archive changed nothing
    reads = await _audit(app, "archive.read")
    assert [(a.actor_id, a.object_type, a.object_id) for a in reads] == [
        (w["supervisor"]["id"], "conversation", str(li["id"]))
    ]
    r = await client.get("/api/v1/archive/conversations?contact=李", headers=h)
    listed = await _audit(app, "archive.listed")
    assert [a.details for a in listed] == [{"contact": "李"}]
    assert (await client.get("/api/v1/archive/conversations/999999", headers=h)).status_code == 404


async def test_export_api_jsonl_round_trip_and_csv(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory)
    h = w["admin"]["headers"]
    li = w["conv"]["李四"]
    await client.post(
        f"/api/v1/conversations/{li['id']}/messages",
        json={"content": '=HYPERLINK("http://evil")', "private": True},
        headers=h,
    )
    r = await client.get("/api/v1/archive/export", headers=h)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in r.headers["content-disposition"]
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 2 and [x["conversation"]["id"] for x in lines] == sorted(
        x["conversation"]["id"] for x in lines
    )
    exported = next(x for x in lines if x["conversation"]["id"] == li["id"])
    api_conv = (await client.get(f"/api/v1/conversations/{li['id']}", headers=h)).json()
    api_msgs = (await client.get(f"/api/v1/conversations/{li['id']}/messages", headers=h)).json()
    assert exported["conversation"] == api_conv
    assert exported["messages"] == list(reversed(api_msgs["items"]))

    r = await client.get("/api/v1/archive/export", params={"channel_id": w["a"]["id"]}, headers=h)
    assert [json.loads(x)["conversation"]["contact"]["name"] for x in r.text.splitlines()] == [
        "张三"
    ]

    r = await client.get("/api/v1/archive/export?format=csv", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert rows[0][0] == "conversation_id" and len(rows) == 1 + 4
    assert '\'=HYPERLINK("http://evil")' in [row[-1] for row in rows]  # formula defused
    exports = await _audit(app, "archive.exported")
    assert [(a.actor_id, a.details["format"]) for a in exports] == [
        (w["admin"]["id"], "jsonl"),
        (w["admin"]["id"], "jsonl"),
        (w["admin"]["id"], "csv"),
    ]
    assert exports[1].details["channel_id"] == w["a"]["id"]


async def test_export_streams_many_conversations_across_batches(
    client: Any, factory: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.archive import export

    monkeypatch.setattr(export, "CONVERSATION_BATCH", 3)
    monkeypatch.setattr(export, "MESSAGE_PAGE", 4)
    ch = await factory.channel()
    admin = await factory.user("admin")
    payload = [
        {"id": f"{c}-{m}", "from": f"u{c}", "text": f"c{c} m{m}"}
        for c in range(8)
        for m in range(c)
    ]
    await push(client, ch, payload)
    r = await client.get("/api/v1/archive/export", headers=admin["headers"])
    lines = [json.loads(x) for x in r.text.splitlines()]
    got = {
        x["conversation"]["contact"]["name"]: [m["content"] for m in x["messages"]] for x in lines
    }
    assert len(lines) == 7  # u0 wrote nothing: no conversation
    assert got == {f"客户 u{c}": [f"c{c} m{m}" for m in range(c)] for c in range(1, 8)}


async def test_audit_endpoint_lists_newest_first_with_filters(
    client: Any, factory: Any, app: Any
) -> None:
    w = await _world(client, factory)
    h = w["admin"]["headers"]
    await client.get(f"/api/v1/archive/conversations/{w['conv']['张三']['id']}", headers=h)
    r = await client.get("/api/v1/audit?limit=2", headers=h)
    body = r.json()
    assert r.status_code == 200 and len(body["items"]) == 2 and body["next_cursor"]
    first = body["items"][0]
    assert first["action"] == "archive.read" and first["actor"] == {
        "id": w["admin"]["id"],
        "name": "Admin 1",
    }
    r = await client.get("/api/v1/audit?action=user.created", headers=h)
    assert len(r.json()["items"]) == 3
    async with app.state.services.db.session() as session:
        total = await session.scalar(select(func.count()).select_from(AuditLog))
    seen, cursor = 0, None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/audit", params=params, headers=h)).json()
        seen += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == total


async def test_statement_timeout_protects_postgres(app: Any) -> None:
    async with app.state.services.db.session() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("statement timeouts are a PostgreSQL feature")
    app.state.services.settings.search_timeout_ms = 50
    with pytest.raises(SearchTimeout):
        async with app.state.services.db.session() as session:
            await guarded(session, select(func.pg_sleep(1)))
