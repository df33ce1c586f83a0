"""The state fetched before an action + the events it published == the state fetched after.

In the spirit of zulip's `verify_action` (zerver/tests/test_events.py): a client that
loads the inbox through the API and then applies the live events it is sent must end
up where a fresh load would put it. Each action below runs between two fetches; the
events are the rows the action added to the event log (what the hub fans out).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select

from app.delivery.worker import DeliveryWorker
from app.models import EventLog
from channels.base import DeliveryError
from tests.conftest import push
from tests.support.loopback import PLATFORM

State = dict[str, Any]


async def fetch_state(client: Any, headers: dict[str, str]) -> State:
    """What the live pages load: every conversation and its messages (the inbox) and every
    task (the to-do list)."""
    r = await client.get("/api/v1/conversations?status=all&limit=200", headers=headers)
    assert r.status_code == 200
    conversations = {c["id"]: c for c in r.json()["items"]}
    messages = {}
    for conv_id in conversations:
        r = await client.get(f"/api/v1/conversations/{conv_id}/messages", headers=headers)
        assert r.status_code == 200
        messages[conv_id] = {m["id"]: m for m in r.json()["items"]}
    tasks = {}
    for status in ("open", "done", "cancelled"):
        r = await client.get(f"/api/v1/tasks?status={status}&limit=200", headers=headers)
        assert r.status_code == 200
        tasks.update({t["id"]: t for t in r.json()["items"]})
    return {
        "conversations": conversations,
        "messages": messages,
        "tasks": tasks,
    }


def apply_event(state: State, event: EventLog) -> None:
    """The inbox client's reducer (frontend/static/inbox: onEvent), in Python."""
    data = event.data
    if event.type in ("message.created", "message.updated"):
        state["messages"].setdefault(data["conversation_id"], {})[data["id"]] = data
    elif event.type in ("conversation.created", "conversation.updated", "conversation.assigned"):
        state["conversations"][data["id"]] = data
        state["messages"].setdefault(data["id"], {})
    elif event.type == "contact.updated":
        pass  # the sidebar refetches the open customer on it; no live list holds customers
    elif event.type in ("task.created", "task.updated"):
        state["tasks"][data["id"]] = data
    else:  # a new event type needs its line here (and in the client)
        raise AssertionError(f"unknown event {event.type}")


async def last_seq(app: Any) -> int:
    async with app.state.services.db.sessions() as s:
        return int(await s.scalar(select(func.max(EventLog.seq))) or 0)


async def verify_action(
    app: Any, client: Any, headers: dict[str, str], action: Callable[[], Awaitable[Any]]
) -> list[str]:
    """Run `action`; assert before + its events == after; the event types it published."""
    before = await fetch_state(client, headers)
    seq = await last_seq(app)
    await action()
    async with app.state.services.db.sessions() as s:
        events = list(
            await s.scalars(select(EventLog).where(EventLog.seq > seq).order_by(EventLog.seq))
        )
    assert events, "the action published nothing"
    for event in events:
        apply_event(before, event)
    after = await fetch_state(client, headers)
    assert before == after
    return [e.type for e in events]


async def test_actions_publish_what_a_fresh_load_shows(client: Any, factory: Any, app: Any) -> None:
    ch = await factory.channel()
    admin = await factory.user("admin")
    agent = await factory.user("agent")
    h = admin["headers"]

    async def inbound(msg_id: str, sender: str, text: str) -> None:
        r = await push(client, ch, {"id": msg_id, "from": sender, "name": "王五", "text": text})
        assert r.status_code == 200

    # Inbound: a new customer's first message opens a conversation; a second joins it.
    types = await verify_action(app, client, h, lambda: inbound("in1", "cust", "快递到哪了"))
    assert types == ["message.created", "conversation.created"]
    types = await verify_action(app, client, h, lambda: inbound("in2", "cust", "在吗"))
    assert types == ["message.created", "conversation.updated"]
    conv_id = next(iter((await fetch_state(client, h))["conversations"]))
    base = f"/api/v1/conversations/{conv_id}"

    async def call(method: str, path: str, body: dict[str, Any]) -> None:
        r = await client.request(method, base + path, json=body, headers=h)
        assert r.status_code in (200, 201), r.text

    # Reply and private note.
    await verify_action(app, client, h, lambda: call("POST", "/messages", {"content": "在路上"}))
    await verify_action(
        app, client, h, lambda: call("POST", "/messages", {"content": "老客户", "private": True})
    )
    # Assign, then take it back to the queue.
    types = await verify_action(
        app, client, h, lambda: call("POST", "/assignment", {"assignee_id": agent["id"]})
    )
    assert types == ["conversation.assigned"]
    await verify_action(app, client, h, lambda: call("POST", "/assignment", {"assignee_id": None}))
    # Status changes: resolve, then a customer message opens a new conversation.
    await verify_action(app, client, h, lambda: call("POST", "/status", {"status": "resolved"}))
    types = await verify_action(app, client, h, lambda: inbound("in3", "cust", "又来了"))
    assert types == ["message.created", "conversation.created"]
    # Mark the new conversation read.
    (new_id,) = set((await fetch_state(client, h))["conversations"]) - {conv_id}
    assert (await fetch_state(client, h))["conversations"][new_id]["unread_count"] == 1
    base = f"/api/v1/conversations/{new_id}"
    types = await verify_action(app, client, h, lambda: call("POST", "/read", {}))
    assert types == ["conversation.updated"]

    # Delivery outcomes: sent, then a permanent failure with the platform's reason.
    worker = DeliveryWorker(
        app.state.services.db, app.state.services.http, app.state.services.settings
    )
    types = await verify_action(app, client, h, worker.run_once)
    assert types == ["message.updated"]
    await call("POST", "/messages", {"content": "第二条"})
    PLATFORM.fail_next = [DeliveryError("48h window closed", retryable=False)]
    types = await verify_action(app, client, h, worker.run_once)
    assert types == ["message.updated"]
    failed = [
        m
        for msgs in (await fetch_state(client, h))["messages"].values()
        for m in msgs.values()
        if m["delivery_status"] == "failed"
    ]
    assert [m["error"] for m in failed] == ["48h window closed"]

    # The to-do list: a manual task for the customer, then done with an outcome.
    contact_id = (await fetch_state(client, h))["conversations"][new_id]["contact"]["id"]

    async def api(method: str, path: str, body: dict[str, Any]) -> None:
        r = await client.request(method, path, json=body, headers=h)
        assert r.status_code in (200, 201), r.text

    task = {"contact_id": contact_id, "title": "回访：快递", "due_at": "2030-01-02T09:00:00+08:00"}
    types = await verify_action(app, client, h, lambda: api("POST", "/api/v1/tasks", task))
    assert types == ["task.created"]
    (task_id,) = (await fetch_state(client, h))["tasks"]
    done = {"outcome": "已签收"}
    types = await verify_action(
        app, client, h, lambda: api("POST", f"/api/v1/tasks/{task_id}/complete", done)
    )
    assert "task.updated" in types
