"""GET /api/v1/search on the configured database (SQLite, or PostgreSQL when
HUILIU_TEST_DATABASE_URL is set): correctness against a plain scan, highlights,
visibility, pagination, notes, archived channels, and the reindex."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from sqlalchemy import select

from app.models import AuditLog, Message
from app.searchindex import index as search
from app.searchindex.index import reindex
from tests.conftest import push

CJK_WORDS = ["退款", "优惠券", "漏发", "发票", "物流", "客服", "快递", "尺码", "过期", "申请"]
EN_WORDS = ["refund", "Refunds", "ORDER", "order", "iPhone", "coupon", "hello"]


def _sentence(rng: random.Random, i: int) -> str:
    words = rng.choices(CJK_WORDS + EN_WORDS, k=rng.randint(2, 7))
    if rng.random() < 0.2:
        words.append(f"订单号{rng.randint(10000, 10020)}")
    if i == 1234:
        words.append("蓝鲸")  # the one rare row
    seps = ["", " ", "，", "。", "!", " - "]
    return "".join(w + rng.choice(seps) for w in words)


def expected_ids(corpus: dict[int, str], query: str) -> list[int]:
    """The oracle, independent of app/searchindex/terms.py: Chinese parts as substrings,
    ASCII parts as whole words, case-insensitive, all parts required."""
    parts = re.findall(r"[\u4e00-\u9fff]+|[A-Za-z0-9]+", query)

    def hit(text: str) -> bool:
        for p in parts:
            if re.fullmatch(r"[\u4e00-\u9fff]+", p):
                if p not in text:
                    return False
            elif not re.search(rf"(?<![A-Za-z0-9]){re.escape(p)}(?![A-Za-z0-9])", text, re.I):
                return False
        return True

    return sorted((i for i, t in corpus.items() if hit(t)), reverse=True)


async def search_all(client: Any, headers: dict[str, str], query: str, **params: Any) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        q = {"q": query, "limit": 200, **params, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/v1/search", params=q, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


@pytest.mark.slow
async def test_search_matches_a_scan_on_a_few_thousand_messages(
    client: Any, factory: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ch = await factory.channel()
    admin = await factory.user("admin")
    rng = random.Random(7)
    texts = [_sentence(rng, i) for i in range(3000)]
    for start in range(0, len(texts), 500):
        batch = [
            {"id": f"m{i}", "from": f"u{i % 60}", "text": texts[i]}
            for i in range(start, min(start + 500, len(texts)))
        ]
        r = await push(client, ch, batch)
        assert r.status_code == 200
    items = await search_all(client, admin["headers"], "hello")
    assert items, "the corpus has the word"
    # The oracle scans the stored rows.
    async with app.state.services.db.session() as session:
        rows = (await session.execute(select(Message.id, Message.content))).all()
    corpus = {mid: content for mid, content in rows}
    assert len(corpus) == 3000
    queries = [
        "鲸",  # 1 character, one row
        "蓝鲸",  # 2 characters, one row
        "退",  # 1 character, common
        "退款",  # 2 characters, common
        "惠券",  # not a word: a substring of 优惠券
        "优惠券过期",  # a phrase across words
        "款发",  # adjacent across words only without punctuation
        "refund",  # whole word: not "Refunds"
        "REFUND",  # case-insensitive
        "iphone",
        "10007",  # digits inside 订单号10007
        "订单号10007",  # mixed
        "退款 coupon",  # AND
    ]
    for query in queries:
        got = [item["message"]["id"] for item in await search_all(client, admin["headers"], query)]
        assert got == expected_ids(corpus, query), query
    if app.state.services.db.is_postgres:
        # Buckets of 8 ids (375 of them): every step of the bucketed search runs, and a
        # page boundary falls inside steps; reindexing rewrites the bucket lexemes.
        monkeypatch.setattr(search, "BUCKET_SHIFT", 3)
        await reindex(app.state.services.db.session)
        for query in queries:
            got = [i["message"]["id"] for i in await search_all(client, admin["headers"], query)]
            assert got == expected_ids(corpus, query), query


async def test_highlight_escapes_hostile_text(client: Any, factory: Any) -> None:
    ch = await factory.channel()
    admin = await factory.user("admin")
    evil = '<img src=x onerror="alert(1)">退款<script>x</script>'
    await push(client, ch, {"id": "x1", "from": "u1", "text": evil})
    r = await client.get("/api/v1/search", params={"q": "退款"}, headers=admin["headers"])
    (item,) = r.json()["items"]
    assert item["highlight"] == (
        "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;<mark>退款</mark>"
        "&lt;script&gt;x&lt;/script&gt;"
    )
    assert item["message"]["content"] == evil  # data as stored; pages escape
    assert set(item) == {"message", "conversation_id", "highlight"}
    assert item["conversation_id"] == item["message"]["conversation_id"]


async def test_visibility_filters_and_pagination(client: Any, factory: Any) -> None:
    a = await factory.channel("A", "sa")
    b = await factory.channel("B", "sb")
    for i in range(5):
        await push(client, a, {"id": f"a{i}", "from": "ua", "text": f"发票{i}"})
        await push(client, b, {"id": f"b{i}", "from": "ub", "text": f"发票 b{i}"})
    limited = await factory.user("agent", channels=[a["id"]])
    agent = await factory.user("agent")
    supervisor = await factory.user("supervisor")

    def channels(items: list[Any]) -> set[int]:
        return {i["message"]["conversation_id"] for i in items}

    mine = await search_all(client, limited["headers"], "发票")
    everyone = await search_all(client, agent["headers"], "发票")
    assert len(mine) == 5 and len(everyone) == 10
    assert len(await search_all(client, supervisor["headers"], "发票")) == 10
    # Another channel's filter gives an agent limited to A nothing, not an error.
    assert await search_all(client, limited["headers"], "发票", channel_id=b["id"]) == []
    assert len(await search_all(client, agent["headers"], "发票", channel_id=b["id"])) == 5
    assert len(channels(mine)) == 1

    # Pages of 3: every hit once, newest first.
    seen: list[int] = []
    cursor = None
    while True:
        params = {"q": "发票", "limit": 3, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/api/v1/search", params=params, headers=agent["headers"])).json()
        seen += [i["message"]["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 10

    # Dates: everything is from "now"; a window in the past finds nothing.
    old = await search_all(client, agent["headers"], "发票", until="2020-01-01T00:00:00Z")
    assert old == []
    assert len(await search_all(client, agent["headers"], "发票", since="2020-01-01")) == 10


async def test_notes_and_replies_are_searchable_and_archived_channels_too(
    client: Any, factory: Any
) -> None:
    ch = await factory.channel()
    admin = await factory.user("admin")
    h = admin["headers"]
    await push(client, ch, {"id": "1", "from": "u1", "text": "在吗"})
    conv = (await client.get("/api/v1/conversations", headers=h)).json()["items"][0]
    for content, private in (("老客户优先处理", True), ("您好，马上为您查询", False)):
        r = await client.post(
            f"/api/v1/conversations/{conv['id']}/messages",
            json={"content": content, "private": private},
            headers=h,
        )
        assert r.status_code == 201
    note = (await client.get("/api/v1/search?q=老客户", headers=h)).json()["items"]
    assert [i["message"]["private"] for i in note] == [True]
    assert len((await client.get("/api/v1/search?q=查询", headers=h)).json()["items"]) == 1

    r = await client.post(f"/api/v1/channels/{ch['id']}/archive", headers=h)
    assert r.status_code == 200 and r.json()["archived"] is True
    assert len((await client.get("/api/v1/search?q=在吗", headers=h)).json()["items"]) == 1


async def test_search_is_audited_once_per_query(client: Any, factory: Any, app: Any) -> None:
    ch = await factory.channel()
    admin = await factory.user("admin")
    for i in range(3):
        await push(client, ch, {"id": str(i), "from": "u", "text": f"物流{i}"})
    first = (await client.get("/api/v1/search?q=物流&limit=2", headers=admin["headers"])).json()
    params = {"q": "物流", "limit": 2, "cursor": first["next_cursor"]}
    await client.get("/api/v1/search", params=params, headers=admin["headers"])
    async with app.state.services.db.session() as session:
        rows = (
            await session.scalars(select(AuditLog).where(AuditLog.action == "search.queried"))
        ).all()
    assert [(r.actor_id, r.details) for r in rows] == [(admin["id"], {"q": "物流"})]


@pytest.mark.parametrize("q", ["", "？！", "x" * 201])
async def test_bad_queries_are_4xx(client: Any, factory: Any, q: str) -> None:
    admin = await factory.user("admin")
    r = await client.get("/api/v1/search", params={"q": q}, headers=admin["headers"])
    assert r.status_code in (400, 422) and "detail" in r.json()


async def test_unauthenticated_search_is_401(client: Any) -> None:
    assert (await client.get("/api/v1/search?q=退款")).status_code == 401


async def test_reindex_rebuilds_the_same_index(client: Any, factory: Any, app: Any) -> None:
    ch = await factory.channel()
    admin = await factory.user("admin")
    await push(
        client, ch, [{"id": str(i), "from": "u", "text": f"漏发{i} item{i}"} for i in range(30)]
    )
    before = await search_all(client, admin["headers"], "漏发")
    progress: list[tuple[int, int]] = []
    assert await reindex(app.state.services.db.session, lambda a, b: progress.append((a, b))) == 30
    assert progress and progress[-1][0] == progress[-1][1]
    assert await search_all(client, admin["headers"], "漏发") == before
    await push(client, ch, {"id": "new", "from": "u", "text": "漏发 again"})
    assert len(await search_all(client, admin["headers"], "漏发")) == 31
    assert len(await search_all(client, admin["headers"], "item7")) == 1
