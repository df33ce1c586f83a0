"""REST API v1: shapes, visibility and roles, pagination, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from app.models import AuditLog, DeliveryJob, EventLog, Message
from tests.conftest import push


async def _seed(client: Any, factory: Any) -> dict[str, Any]:
    a = await factory.channel("A", "sa")
    b = await factory.channel("B", "sb")
    await push(client, a, {"id": "a1", "from": "ua", "name": "张三", "text": "退款进度？"})
    await push(client, b, {"id": "b1", "from": "ub", "name": "李四", "text": "发票"})
    return {
        "a": a,
        "b": b,
        "admin": await factory.user("admin"),
        "supervisor": await factory.user("supervisor"),
        "agent": await factory.user("agent"),
        "agent_a": await factory.user("agent", channels=[a["id"]]),
    }


def ids(resp: Any) -> set[int]:
    return {item["channel"]["id"] for item in resp.json()["items"]}


async def test_visibility_matrix(client: Any, factory: Any) -> None:
    w = await _seed(client, factory)
    both = {w["a"]["id"], w["b"]["id"]}
    for role in ("admin", "supervisor", "agent"):
        r = await client.get("/api/v1/conversations", headers=w[role]["headers"])
        assert r.status_code == 200 and ids(r) == both, role
    r = await client.get("/api/v1/conversations", headers=w["agent_a"]["headers"])
    assert ids(r) == {w["a"]["id"]}
    conv_b = next(
        c
        for c in (await client.get("/api/v1/conversations", headers=w["admin"]["headers"])).json()[
            "items"
        ]
        if c["channel"]["id"] == w["b"]["id"]
    )
    h = w["agent_a"]["headers"]
    for path in ("", "/messages"):
        r = await client.get(f"/api/v1/conversations/{conv_b['id']}{path}", headers=h)
        assert r.status_code == 404
    r = await client.post(
        f"/api/v1/conversations/{conv_b['id']}/messages", json={"content": "hi"}, headers=h
    )
    assert r.status_code == 404
    r = await client.get(f"/api/v1/contacts/{conv_b['contact']['id']}", headers=h)
    assert r.status_code == 404
    channels = (await client.get("/api/v1/channels", headers=h)).json()["items"]
    assert [c["id"] for c in channels] == [w["a"]["id"]]


async def test_unauthenticated_and_bad_tokens(client: Any, factory: Any) -> None:
    await _seed(client, factory)
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        r = await client.get("/api/v1/conversations", headers=headers)
        assert r.status_code == 401 and r.json() == {"detail": "authentication required"}


async def test_conversation_and_message_shapes(client: Any, factory: Any) -> None:
    w = await _seed(client, factory)
    h = w["admin"]["headers"]
    conv = (await client.get(f"/api/v1/conversations?channel_id={w['a']['id']}", headers=h)).json()
    item = conv["items"][0]
    assert conv["next_cursor"] is None
    assert item["contact"]["name"] == "张三"
    assert item["channel"] == {"id": w["a"]["id"], "type": "test", "name": "A"}
    assert item["status"] == "open" and item["assignee"] is None
    assert item["unread_count"] == 1 and item["last_message_preview"] == "退款进度？"
    assert item["reply_window_expires_at"] is not None
    msgs = (await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=h)).json()
    (m,) = msgs["items"]
    assert m["direction"] == "inbound" and m["delivery_status"] == "received"
    assert m["sender"] == {"type": "contact", "id": item["contact"]["id"], "name": "张三"}
    assert m["content_type"] == "text" and m["content"] == "退款进度？" and m["private"] is False
    assert "reply_context" not in m["extra"]


async def test_pagination_covers_every_item_once(client: Any, factory: Any, app: Any) -> None:
    ch = await factory.channel()
    admin = await factory.user("admin")
    for i in range(7):
        await push(client, ch, {"id": f"c{i}", "from": f"user{i}", "text": f"消息{i}"})
    seen: list[int] = []
    cursor = None
    while True:
        q = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(f"/api/v1/conversations{q}", headers=admin["headers"])).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 and len(set(seen)) == 7
    assert seen == sorted(seen, reverse=True)  # newest first

    for i in range(5):
        await push(client, ch, {"id": f"more{i}", "from": "user0", "text": f"追问{i}"})
    conv_id = seen[-1]
    got: list[int] = []
    cursor = None
    while True:
        q = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (
            await client.get(
                f"/api/v1/conversations/{conv_id}/messages{q}", headers=admin["headers"]
            )
        ).json()
        got += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(got) == 6 and got == sorted(got, reverse=True)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/conversations?limit=0",
        "/api/v1/conversations?limit=201",
        "/api/v1/conversations?limit=abc",
        "/api/v1/conversations?status=closed",
        "/api/v1/conversations?assignee=someone",
        "/api/v1/conversations?cursor=%%%",
        "/api/v1/conversations?cursor=WzFd",
        "/api/v1/conversations?channel_id=x",
        "/api/v1/conversations/abc",
        "/api/v1/conversations/1/messages?cursor=notbase64!",
        "/api/v1/channels?cursor=WyJ4Il0",
        "/api/v1/users?limit=-1",
        "/api/v1/search",
    ],
)
async def test_bad_query_input_is_a_4xx_with_detail(client: Any, factory: Any, path: str) -> None:
    w = await _seed(client, factory)
    r = await client.get(path, headers=w["admin"]["headers"])
    assert r.status_code in (400, 404, 422), (path, r.status_code, r.text)
    assert "detail" in r.json()


@pytest.mark.parametrize(
    ("suffix", "body"),
    [
        ("messages", {}),
        ("messages", {"content": ""}),
        ("messages", {"content": "x" * 4001}),
        ("messages", {"content": 5}),
        ("messages", {"content": "hi", "private": "maybe"}),
        ("assignment", {}),
        ("assignment", {"assignee_id": 99999}),
        ("assignment", {"assignee_id": "me"}),
        ("status", {"status": "closed"}),
        ("status", {}),
    ],
)
async def test_bad_write_input_changes_nothing(
    client: Any, factory: Any, app: Any, suffix: str, body: Any
) -> None:
    w = await _seed(client, factory)
    h = w["admin"]["headers"]
    conv = (await client.get("/api/v1/conversations", headers=h)).json()["items"][0]
    async with app.state.services.db.sessions() as s:
        before = [
            await s.scalar(select(func.count()).select_from(t))
            for t in (Message, EventLog, AuditLog, DeliveryJob)
        ]
    r = await client.post(f"/api/v1/conversations/{conv['id']}/{suffix}", json=body, headers=h)
    assert r.status_code in (400, 422) and "detail" in r.json()
    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/{suffix}",
        content=b"{not json",
        headers={**h, "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422)
    async with app.state.services.db.sessions() as s:
        after = [
            await s.scalar(select(func.count()).select_from(t))
            for t in (Message, EventLog, AuditLog, DeliveryJob)
        ]
    assert after == before
    again = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=h)).json()
    assert again == conv


async def test_search_finds_the_message(client: Any, factory: Any) -> None:
    """Search itself is tested in tests/archive/; here: it answers where the stub did."""
    w = await _seed(client, factory)
    r = await client.get("/api/v1/search?q=退款", headers=w["admin"]["headers"])
    assert r.status_code == 200
    (item,) = r.json()["items"]
    assert item["message"]["content"] == "退款进度？"
    assert item["highlight"] == "<mark>退款</mark>进度？"


async def test_reply_note_assign_status_flow(client: Any, factory: Any, app: Any) -> None:
    w = await _seed(client, factory)
    agent = w["agent"]
    h = agent["headers"]
    conv = next(
        c
        for c in (await client.get("/api/v1/conversations", headers=h)).json()["items"]
        if c["channel"]["id"] == w["a"]["id"]
    )
    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/messages",
        json={"content": "您好，马上为您查询"},
        headers=h,
    )
    assert r.status_code == 201
    reply = r.json()
    assert reply["delivery_status"] == "queued" and reply["direction"] == "outbound"
    assert reply["sender"] == {"type": "user", "id": agent["id"], "name": agent["name"]}
    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/messages",
        json={"content": "客户很着急", "private": True},
        headers=h,
    )
    note = r.json()
    assert note["private"] is True and note["delivery_status"] is None
    async with app.state.services.db.sessions() as s:
        jobs = list(await s.scalars(select(DeliveryJob.message_id)))
    assert jobs == [reply["id"]]  # private notes never leave Huiliu

    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/assignment",
        json={"assignee_id": agent["id"]},
        headers=h,
    )
    assert r.json()["assignee"] == {"id": agent["id"], "name": agent["name"]}
    mine = (await client.get("/api/v1/conversations?assignee=me", headers=h)).json()["items"]
    assert [c["id"] for c in mine] == [conv["id"]]
    none = (await client.get("/api/v1/conversations?assignee=none", headers=h)).json()["items"]
    assert conv["id"] not in [c["id"] for c in none]
    # an agent limited to channel A cannot be given a channel-B conversation
    conv_b = next(
        c
        for c in (await client.get("/api/v1/conversations", headers=h)).json()["items"]
        if c["channel"]["id"] == w["b"]["id"]
    )
    r = await client.post(
        f"/api/v1/conversations/{conv_b['id']}/assignment",
        json={"assignee_id": w["agent_a"]["id"]},
        headers=h,
    )
    assert r.status_code == 400

    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/status", json={"status": "pending"}, headers=h
    )
    assert r.json()["status"] == "pending"
    assert (await client.get("/api/v1/conversations?status=pending", headers=h)).json()["items"]
    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/assignment", json={"assignee_id": None}, headers=h
    )
    assert r.json()["assignee"] is None
    after = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=h)).json()
    assert after["first_response_at"] is not None and after["unread_count"] == 0
    async with app.state.services.db.sessions() as s:
        actions = list(await s.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    # The reply took the conversation and made its author the customer's owner; assigning
    # it to the same agent again changes nothing.
    assert actions[-4:] == [
        "conversation.assigned",
        "contact.owner_changed",
        "conversation.status_changed",
        "conversation.assigned",
    ]


async def test_users_list_and_limits(client: Any, factory: Any) -> None:
    w = await _seed(client, factory)
    users = (await client.get("/api/v1/users", headers=w["agent"]["headers"])).json()["items"]
    by_id = {u["id"]: u for u in users}
    assert by_id[w["agent_a"]["id"]]["channel_ids"] == [w["a"]["id"]]
    assert by_id[w["admin"]["id"]]["channel_ids"] is None
    assert "password_hash" not in by_id[w["admin"]["id"]]


async def test_healthz_and_metrics(client: Any, factory: Any) -> None:
    await _seed(client, factory)
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    text = (await client.get("/metrics")).text
    assert 'huiliu_messages_ingested_total{channel_type="test",outcome="stored"}' in text
    assert "huiliu_http_requests_total" in text
    assert "huiliu_open_websockets" in text


async def test_list_items_carry_the_contacts_last_order_in_one_query(
    client: Any, factory: Any
) -> None:
    """Issue 21 item 7: the newest order (by date, then entry) rides along in the list
    query itself, not one query per row."""
    w = await _seed(client, factory)
    h = w["agent"]["headers"]
    items = (await client.get("/api/v1/conversations", headers=h)).json()["items"]
    by_name = {i["contact"]["name"]: i for i in items}
    assert by_name["张三"]["contact"]["last_order"] is None
    cid = by_name["张三"]["contact"]["id"]
    for no, day in (("<b>N-2</b>", "2026-11-02"), ("N-1", "2026-10-01"), ("N-3", "2026-11-02")):
        r = await client.post(
            f"/api/v1/contacts/{cid}/orders",
            json={"order_no": no, "ordered_at": day, "amount": "10", "items": []},
            headers=h,
        )
        assert r.status_code == 201, r.text
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        items = (await client.get("/api/v1/conversations", headers=h)).json()["items"]
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    by_name = {i["contact"]["name"]: i for i in items}
    assert by_name["张三"]["contact"]["last_order"] == {
        "order_no": "N-3",
        "ordered_at": "2026-11-02",
    }
    assert by_name["李四"]["contact"]["last_order"] is None
    assert len([s for s in statements if "orders" in s]) == 1
    one = await client.get(f"/api/v1/conversations/{by_name['张三']['id']}", headers=h)
    assert one.json()["contact"]["last_order"]["order_no"] == "N-3"
