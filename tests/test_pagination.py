"""Every list endpoint takes the same `cursor` and `limit` (CONTRACT section 5), whether it
declares them itself or through `pagination.PageDep`, and answers the same page shape."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import push

LISTS = [
    "/api/v1/conversations",
    "/api/v1/conversations/{conversation_id}/messages",
    "/api/v1/channels",
    "/api/v1/users",
    "/api/v1/search?q=退款",
    "/api/v1/archive/conversations",
    "/api/v1/audit",
    "/api/v1/campaigns",
    "/api/v1/orders",
    "/api/v1/contacts",
    "/api/v1/tasks",
]


async def _admin_and_conversation(client: Any, factory: Any) -> tuple[dict[str, str], int]:
    channel = await factory.channel("A", "sa")
    await push(client, channel, {"id": "a1", "from": "ua", "name": "张三", "text": "退款进度？"})
    await push(client, channel, {"id": "a2", "from": "ua", "name": "张三", "text": "退款"})
    headers = (await factory.user("admin"))["headers"]
    listed = (await client.get("/api/v1/conversations", headers=headers)).json()
    return headers, listed["items"][0]["id"]


def _url(path: str, conversation_id: int, query: str) -> str:
    path = path.format(conversation_id=conversation_id)
    return path + ("&" if "?" in path else "?") + query


@pytest.mark.parametrize("path", LISTS)
async def test_every_list_checks_cursor_and_limit_alike(
    client: Any, factory: Any, path: str
) -> None:
    headers, conversation_id = await _admin_and_conversation(client, factory)
    for query, loc in [
        ("limit=0", ["query", "limit"]),
        ("limit=201", ["query", "limit"]),
        ("limit=x", ["query", "limit"]),
        ("cursor=" + "a" * 501, ["query", "cursor"]),
    ]:
        r = await client.get(_url(path, conversation_id, query), headers=headers)
        assert r.status_code == 422, (path, query, r.text)
        assert [e["loc"] for e in r.json()["detail"]] == [loc], (path, query)
    r = await client.get(_url(path, conversation_id, "limit=1"), headers=headers)
    assert r.status_code == 200, (path, r.text)
    page = r.json()
    assert set(page) == {"items", "next_cursor"} and len(page["items"]) <= 1, path


async def test_every_list_publishes_the_same_paging_parameters(app: Any) -> None:
    operations = app.openapi()["paths"]
    for path in LISTS:
        params = {
            p["name"]: p["schema"]
            for p in operations[path.split("?")[0]]["get"]["parameters"]
            if p["in"] == "query"
        }
        assert params["limit"] == {
            "type": "integer",
            "maximum": 200,
            "minimum": 1,
            "default": 50,
            "title": "Limit",
        }, path
        assert params["cursor"]["anyOf"][0] == {"type": "string", "maxLength": 500}, path
