"""`huiliu export`, `huiliu search reindex`, `huiliu user deactivate|reactivate`.

The command runs in a thread: the test's own app must keep serving its event loop
(a blocked loop could hold SQLite's write lock for the whole command)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.models import AuditLog
from tests.conftest import push


async def _seed(client: Any, factory: Any) -> dict[str, Any]:
    a = await factory.channel("A", "sa")
    b = await factory.channel("B", "sb")
    admin = await factory.user("admin")
    await push(client, a, [{"id": f"a{i}", "from": "ua", "text": f"订单号{i}"} for i in range(3)])
    await push(client, b, {"id": "b1", "from": "ub", "name": "<李四>", "text": '"引号" 和 \\n'})
    return {"a": a, "b": b, "admin": admin}


@pytest.mark.slow
async def test_export_round_trip(
    client: Any, factory: Any, app: Any, run: Any, tmp_path: Path
) -> None:
    w = await _seed(client, factory)
    out = tmp_path / "all.jsonl"
    r = await asyncio.to_thread(run, "export", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"conversations": 2, "messages": 4, "out": str(out)}
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    h = w["admin"]["headers"]
    for line in lines:
        cid = line["conversation"]["id"]
        assert (
            line["conversation"]
            == (await client.get(f"/api/v1/conversations/{cid}", headers=h)).json()
        )
        api = (await client.get(f"/api/v1/conversations/{cid}/messages", headers=h)).json()
        assert line["messages"] == list(reversed(api["items"]))
    assert not (tmp_path / "all.jsonl.part").exists()

    r = await asyncio.to_thread(run, "export", "--channel", str(w["b"]["id"]), "--out", str(out))
    assert json.loads(r.stdout)["conversations"] == 1
    assert (
        json.loads(out.read_text(encoding="utf-8"))["conversation"]["contact"]["name"] == "<李四>"
    )
    r = await asyncio.to_thread(
        run, "export", "--since", "2020-01-01", "--until", "2020-12-31", "--out", str(out)
    )
    assert json.loads(r.stdout)["conversations"] == 0 and out.read_text() == ""

    async with app.state.services.db.session() as session:
        audits = (
            await session.scalars(select(AuditLog).where(AuditLog.action == "archive.exported"))
        ).all()
    assert [(a.actor_id, a.details.get("via"), a.details.get("channel_id")) for a in audits] == [
        (None, "cli", None),
        (None, "cli", w["b"]["id"]),
        (None, "cli", None),
    ]


async def test_reindex_command(client: Any, factory: Any, run: Any) -> None:
    w = await _seed(client, factory)
    r = await asyncio.to_thread(run, "search", "reindex")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"indexed": 4}
    found = await client.get("/api/v1/search?q=订单号", headers=w["admin"]["headers"])
    assert len(found.json()["items"]) == 3


async def test_deactivate_and_reactivate_commands(
    client: Any, factory: Any, app: Any, run: Any
) -> None:
    ch = await factory.channel()
    admin = await factory.user("admin")
    leaver = await factory.user("agent", name="张三")
    successor = await factory.user("agent", name="李四")
    await push(client, ch, {"id": "1", "from": "u1", "text": "你好"})
    (conv,) = (await client.get("/api/v1/conversations", headers=admin["headers"])).json()["items"]
    await client.post(
        f"/api/v1/conversations/{conv['id']}/assignment",
        json={"assignee_id": leaver["id"]},
        headers=admin["headers"],
    )
    r = await asyncio.to_thread(
        run,
        "user",
        "deactivate",
        "--email",
        "agent2@example.com",
        "--reassign-to",
        "agent3@example.com",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["active"] is False and out["tokens_revoked"] == 1
    assert out["handovers"] == [{"conversation_id": conv["id"], "assignee_id": successor["id"]}]
    assert (await client.get("/api/v1/conversations", headers=leaver["headers"])).status_code == 401
    moved = (
        await client.get(f"/api/v1/conversations/{conv['id']}", headers=admin["headers"])
    ).json()
    assert moved["assignee"]["name"] == "李四"

    r = await asyncio.to_thread(run, "user", "reactivate", "--email", "agent2@example.com")
    assert r.returncode == 0 and json.loads(r.stdout)["active"] is True


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("user", "deactivate", "--email", "ghost@x.cn"), "no user"),
        (("user", "deactivate"), "required"),
        (("user", "reactivate", "--email", "admin1@example.com"), "is active"),
        (("export",), "required"),
        (("export", "--since", "yesterday", "--out", "x.jsonl"), "--since"),
        (("export", "--channel", "x", "--out", "x.jsonl"), "invalid int"),
        (("export", "--out", "/no/such/dir/x.jsonl"), "no such directory"),
        (("search",), "required"),
        (("search", "rebuild"), "invalid choice"),
    ],
)
async def test_bad_input_is_one_line(
    factory: Any, run: Any, args: tuple[str, ...], needle: str
) -> None:
    await factory.user("admin")
    r = await asyncio.to_thread(run, *args)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
