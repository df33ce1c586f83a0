"""Inbox reads on a large store: the conversation list and opening one conversation, p95.

Seeds `messages` messages in `conversations` conversations with bulk writes (COPY on
PostgreSQL, one executemany transaction on SQLite), straight into the migrated schema,
then times the API one request at a time over a keep-alive connection as an agent's
browser does: the first page of the open queue, later pages by cursor, the "all"
view, and opening a conversation (its header and its first page of messages).
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.bench.bench_support import (
    HttpClient,
    Server,
    counting,
    create_agents,
    create_wechat_channel,
    huiliu_server,
    migrate,
    percentile,
    recreate_pg_database,
    sqlite_path,
)
from tests.bench.settle import settle

TEXTS = [
    "你好，我的订单什么时候发货？",
    "我想申请退款，商品有质量问题",
    "快递显示已签收但我没有收到",
    "请问可以开发票吗？抬头是公司",
    "会员积分怎么兑换优惠券",
    "Hi, is this available in size M?",
]
STATUSES = ["open"] * 3 + ["pending"] + ["resolved"] * 6  # most history is resolved
CHUNK = 20_000


def _plan(conversations: int, messages: int, channel_id: int) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(42)
    per = max(1, messages // conversations)
    return {
        "now": now,
        "rng": rng,
        "per": per,
        "channel_id": channel_id,
        "conversations": conversations,
        "messages": per * conversations,
    }


def _contacts(p: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    for i in range(1, p["conversations"] + 1):
        yield (i, f"客户 {i:06d}", p["now"], p["now"])


def _identities(p: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    for i in range(1, p["conversations"] + 1):
        yield (i, i, p["channel_id"], f"oSeed{i:08d}", None, p["now"])


def _conversations(p: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    rng: random.Random = p["rng"]
    for i in range(1, p["conversations"] + 1):
        status = STATUSES[i % len(STATUSES)]
        # Newer conversations have higher ids; spread over 90 days with some shuffle.
        last = p["now"] - timedelta(seconds=(p["conversations"] - i) * 60 + rng.randint(0, 59))
        active = i if status != "resolved" else None
        yield (
            i,
            p["channel_id"],
            i,
            i,
            active,
            status,
            None,  # unassigned: the queue agents pick from
            rng.randint(0, 3) if status == "open" else 0,
            TEXTS[i % len(TEXTS)],
            last - timedelta(hours=1),
            last,
            last,
            last,
            last if status == "resolved" else None,
        )


def message_rows(
    p: dict[str, Any], text: Callable[[int, int, bool], str], name: Callable[[int], str]
) -> Iterator[tuple[Any, ...]]:
    """The plan's messages (MESSAGE_COLS), customer and agent turns alternating;
    `text(conversation, k, inbound)` and `name(conversation)` fill in the words."""
    per = p["per"]
    mid = 0
    for c in range(1, p["conversations"] + 1):
        last = p["now"] - timedelta(seconds=(p["conversations"] - c) * 60)
        for k in range(per):
            mid += 1
            inbound = k % 2 == 0
            yield (
                mid,
                c,
                p["channel_id"],
                "inbound" if inbound else "outbound",
                "contact" if inbound else "user",
                c if inbound else 1,
                name(c) if inbound else "客服",
                text(c, k, inbound),
                f"seed{mid}" if inbound else None,
                "received" if inbound else "sent",
                last - timedelta(seconds=(per - k) * 30),
            )


def _messages(p: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    return message_rows(
        p, lambda c, k, _inbound: TEXTS[(c + k) % len(TEXTS)], lambda c: f"客户 {c:06d}"
    )


CONTACT_COLS = ("id", "name", "created_at", "updated_at")
IDENTITY_COLS = ("id", "contact_id", "channel_id", "external_id", "name", "created_at")
CONVERSATION_COLS = (
    "id",
    "channel_id",
    "contact_id",
    "identity_id",
    "active_identity_id",
    "status",
    "assignee_id",
    "unread_count",
    "last_message_preview",
    "created_at",
    "updated_at",
    "last_message_at",
    "last_inbound_at",
    "resolved_at",
)
MESSAGE_COLS = (
    "id",
    "conversation_id",
    "channel_id",
    "direction",
    "sender_type",
    "sender_id",
    "sender_name",
    "content",
    "external_id",
    "delivery_status",
    "created_at",
)
FACT_COLS = (
    "conversation_id",
    "channel_id",
    "created_at",
    "first_inbound_at",
    "messages_in",
    "messages_out",
    "first_response_s",
    "first_response_business_s",
    "first_response_agent_id",
    "resolution_s",
    "csat_score",
)
AGENTS = 50  # the service report's "by agent" groups (ids 1-50 need not exist)


def _facts(p: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """The service facts of every conversation, created over the last 365 days."""
    rng = random.Random(16)
    for i in range(1, p["conversations"] + 1):
        created = p["now"] - timedelta(seconds=rng.randint(0, 365 * 86400))
        first = rng.randint(5, 3600)
        yield (
            i,
            p["channel_id"],
            created,
            created,
            p["per"] // 2,
            p["per"] - p["per"] // 2,
            first,
            first,
            rng.randint(1, AGENTS),
            first + rng.randint(60, 86400),
            rng.choice((None, None, 3, 4, 5)),
        )


# Columns with no server default in the schema: filled with constants per table.
CONSTANTS: dict[str, dict[str, Any]] = {
    "contacts": {"notes": "", "attributes": "{}"},
    "contact_identities": {"unreachable": False, "reply_context": "{}"},
    "conversations": {},
    "messages": {
        "private": False,
        "content_type": "text",
        "attachments": "[]",
        "extra": "{}",
        "media_pending": False,
    },
    "conversation_facts": {"greeted": False, "away_sent": False},
}
TABLES = [
    ("contacts", CONTACT_COLS, _contacts),
    ("contact_identities", IDENTITY_COLS, _identities),
    ("conversations", CONVERSATION_COLS, _conversations),
    ("messages", MESSAGE_COLS, _messages),
    ("conversation_facts", FACT_COLS, _facts),
]


async def seed_pg(url: str, p: dict[str, Any], tables: list[Any] | None = None) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in counting("postgresql", False):  # the facts rows are written whole
            await conn.execute(statement)
        for table, cols, rows in tables or TABLES:
            const = CONSTANTS[table]
            names = list(cols) + list(const)
            extra = tuple(const.values())
            batch: list[tuple[Any, ...]] = []
            for row in rows(p):
                batch.append(row + extra)
                if len(batch) >= CHUNK:
                    await conn.copy_records_to_table(table, records=batch, columns=names)
                    batch.clear()
            if batch:
                await conn.copy_records_to_table(table, records=batch, columns=names)
            if table != "conversation_facts":  # keyed by conversation: no sequence
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        for statement in counting("postgresql", True):
            await conn.execute(statement)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def seed_sqlite(url: str, p: dict[str, Any], tables: list[Any] | None = None) -> None:
    def value(v: Any) -> Any:
        if isinstance(v, datetime):
            # As the application stores them (always .ffffff): see seed_crm._sqlite_value.
            return (
                v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
            )
        return v

    conn = sqlite3.connect(sqlite_path(url))
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        for statement in counting("sqlite", False):  # the facts rows are written whole
            conn.execute(statement)
        for table, cols, rows in tables or TABLES:
            const = CONSTANTS[table]
            names = list(cols) + list(const)
            sql = (
                f"INSERT INTO {table} ({', '.join(names)}) "  # noqa: S608 - our own names
                f"VALUES ({', '.join('?' * len(names))})"
            )
            extra = tuple(const.values())
            batch: list[tuple[Any, ...]] = []
            for row in rows(p):
                batch.append(tuple(value(v) for v in row) + extra)
                if len(batch) >= CHUNK:
                    conn.executemany(sql, batch)
                    batch.clear()
            if batch:
                conn.executemany(sql, batch)
            conn.commit()
        for statement in counting("sqlite", True):
            conn.execute(statement)
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()


async def prepare(kind: str, workdir: Path, conversations: int, messages: int) -> tuple[str, float]:
    if kind == "sqlite":
        workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any load
        url = f"sqlite+aiosqlite:///{workdir / 'inbox.db'}"
    else:
        url = await recreate_pg_database("huiliu_bench_inbox")
    await migrate(url)
    channel_id = await create_wechat_channel(url)
    plan = _plan(conversations, messages, channel_id)
    started = time.perf_counter()
    if kind == "sqlite":
        import asyncio

        await asyncio.to_thread(seed_sqlite, url, plan)
    else:
        await seed_pg(url, plan)
    return url, time.perf_counter() - started


async def timed(client: HttpClient, path: str, headers: dict[str, str]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    status, body = await client.request("GET", path, headers=headers)
    elapsed = time.perf_counter() - t0
    if status != 200:
        raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
    return elapsed, json.loads(body)


# Each kind of read stops after `n` requests or this many seconds, whichever is first
# (a slow query must not stretch the whole bench); at least MIN_SAMPLES are taken.
SECONDS_PER_KIND = 12.0
MIN_SAMPLES = 20


def _budget(n: int) -> Iterator[int]:
    started = time.perf_counter()
    for i in range(n):
        if i >= MIN_SAMPLES and time.perf_counter() - started > SECONDS_PER_KIND:
            return
        yield i


REPORTS = {
    "report_agent_30": ("service report, 30 days by agent", 30, "agent"),
    "report_channel_30": ("service report, 30 days by channel", 30, "channel"),
    "report_day_365": ("service report, 365 days by day", 365, "day"),
}


async def measure(
    server: Server, token: str, conversations: int, n: int, boss: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    client = await HttpClient.open(server.port)
    rng = random.Random(7)
    out: dict[str, list[float]] = {"list": [], "list_all": [], "list_deep": [], "open": []}
    try:
        for _ in range(20):  # warm-up: statement caches, first pages in the buffer cache
            await timed(client, "/api/v1/conversations", headers)
        for _ in _budget(n):
            t, _ = await timed(client, "/api/v1/conversations", headers)
            out["list"].append(t)
        for _ in _budget(n):
            t, _ = await timed(client, "/api/v1/conversations?status=all", headers)
            out["list_all"].append(t)
        cursor = None
        for _ in _budget(n):  # scrolling: page after page by cursor
            path = "/api/v1/conversations?status=all" + (f"&cursor={cursor}" if cursor else "")
            t, page = await timed(client, path, headers)
            out["list_deep"].append(t)
            cursor = page["next_cursor"]
        for _ in _budget(n):
            cid = rng.randint(1, conversations)
            t0 = time.perf_counter()
            await timed(client, f"/api/v1/conversations/{cid}", headers)
            await timed(client, f"/api/v1/conversations/{cid}/messages", headers)
            out["open"].append(time.perf_counter() - t0)
        if boss is not None:  # a supervisor's report over everyone's figures
            today = datetime.now(UTC).date()
            for key, (_label, days, by) in REPORTS.items():
                path = (
                    f"/api/v1/reports/service?since={today - timedelta(days=days - 1)}"
                    f"&until={today + timedelta(days=1)}&by={by}"
                )
                boss_headers = {"Authorization": f"Bearer {boss}"}
                await timed(client, path, boss_headers)  # warm-up
                out[key] = []
                for _ in _budget(min(n, 100)):
                    t, _ = await timed(client, path, boss_headers)
                    out[key].append(t)
    finally:
        client.close()
    return {
        k: {"p50": percentile(v, 50), "p95": percentile(v, 95), "n": len(v)} for k, v in out.items()
    }


async def run(
    kind: str, workdir: Path, *, conversations: int, messages: int, requests: int
) -> dict[str, Any]:
    url, seed_seconds = await prepare(kind, workdir, conversations, messages)
    (token,) = await create_agents(url, 1)
    (boss,) = await create_agents(url, 1, role="supervisor")
    settle_seconds = await settle(url)  # scores and churn days current, as when running
    server = huiliu_server(workdir / f"inbox-{kind}", url)
    try:
        await server.start()
        result = await measure(server, token, conversations, requests, boss)
    finally:
        await server.stop()
    result["seed_seconds"] = seed_seconds
    result["settle_seconds"] = settle_seconds
    return result
