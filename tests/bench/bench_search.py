"""Search and export on a large archive (issue 7, "Performance").

Seeds `messages` realistic messages (the simulator's customer lines, agent replies,
order numbers, product names, a little English) with the inbox bench's bulk writers,
then builds the search index exactly as the application does, by running
`huiliu search reindex` (timed). A `huiliu serve` process then answers
`GET /api/v1/search?q=` for a supervisor's bearer token, one request at a time:
p50/p95 of the first page for 1-, 2- and 4-character Chinese queries and English
words (several distinct queries per class, common and rare).

Recall: for a few queries the API's ids (paged by cursor, up to RECALL_CAP) are
compared with a `LIKE '%q%'` scan of the same messages (lowercased for English, then
whole-word filtered, since a word query is a whole word by contract). When the API
has more hits than the cap, its first RECALL_CAP ids must be exactly the newest
RECALL_CAP ids of the scan (results are newest first), so a missed message shows.

Export: `huiliu export --out FILE` as a subprocess; wall time and the child's own
peak RSS (VmHWM, `tests/bench/peak_of.py`).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sandbox.simulator.scripts import NICKNAMES, SCENARIOS, THANKS
from tests.bench import bench_inbox
from tests.bench.bench_support import (
    ROOT,
    SECRET_KEY,
    HttpClient,
    Server,
    create_agents,
    create_wechat_channel,
    huiliu_server,
    migrate,
    percentile,
    recreate_pg_database,
    sqlite_path,
)
from tests.bench.settle import settle

PG_DB = "huiliu_bench_search"
PER_CONVERSATION = 10

AGENT_LINES = (
    "您好，这里是客服小禾，很高兴为您服务",
    "请提供一下订单号，我帮您查询",
    "已经为您提交退款申请，预计1-3个工作日原路退回",
    "物流这边我已经帮您催促了，有更新会第一时间通知您",
    "电子发票会在24小时内发送到您的邮箱",
    "非常抱歉给您带来不便，我们会尽快处理",
    "换货的运费由我们承担，请放心寄回",
    "门店营业时间是周一至周日 10:00-22:00",
    "还有其他可以帮您的吗？",
    "Thanks for reaching out, let me check your order.",
    "Your refund has been approved and will arrive in 3-5 days.",
)
PRODUCTS = (
    "蓝牙耳机",
    "羽绒服",
    "保温杯",
    "扫地机器人",
    "空气炸锅",
    "电动牙刷",
    "加湿器",
    "茶具套装",
    "瑜伽垫",
    "行李箱",
    "机械键盘",
    "儿童绘本",
)
CITIES = ("杭州", "广州", "北京", "上海", "成都", "武汉", "西安", "南京")

# Query classes: several distinct queries each, common and rare.
# 蓉 matches nothing (no hit at all is the slowest case for some plans).
QUERIES: dict[str, list[str]] = {
    "zh1": ["退", "票", "谢", "键", "珐", "蓉"],
    "zh2": ["退款", "发票", "物流", "门店", "绘本", "珐琅"],
    "zh4": ["申请退款", "转运中心", "机械键盘", "线下门店", "原路退回", "涂层掉了"],
    "en": ["refund", "order", "shipped", "thanks", "keyboard", "enamel"],
}
RECALL_QUERIES = ["珐", "珐琅", "涂层掉了", "enamel", "绘本", "机械键盘", "退款", "refund"]
RECALL_CAP = 1000
# Issue 7 asked p95 < 150 ms at 1M; issue 20 tightened it to 50 ms on both databases.
TARGETS = {"search_p95_ms": 50.0, "export_seconds": 120.0, "export_peak_mb": 200.0}
SECONDS_PER_CLASS = 20.0
MIN_SAMPLES = 20


def message_text(rng: random.Random, inbound: bool) -> str:
    if not inbound:
        return rng.choice(AGENT_LINES)
    r = rng.random()
    if r < 0.001:  # rare (about 1 in 2,000 messages): recall is compared in full
        return f"上次买的珐琅锅（enamel 款）涂层掉了，{rng.choice(CITIES)}能换吗？"
    if r < 0.08:
        return rng.choice(THANKS)
    if r < 0.18:
        return f"订单号是 DD2026{rng.randint(0, 10**10 - 1):010d}"
    if r < 0.30:
        product = rng.choice(PRODUCTS)
        city = rng.choice(CITIES)
        return f"我在{city}买的{product}有问题，能帮我看看吗？"
    if r < 0.34:
        return "Is the mechanical keyboard back in stock? My order keeps failing."
    line = rng.choice(rng.choice(SCENARIOS).lines)
    return line


def _messages(p: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(99)
    return bench_inbox.message_rows(
        p,
        lambda _c, _k, inbound: message_text(rng, inbound),
        lambda c: NICKNAMES[c % len(NICKNAMES)],
    )


def tables() -> list[Any]:
    return [
        t if t[0] != "messages" else ("messages", bench_inbox.MESSAGE_COLS, _messages)
        for t in bench_inbox.TABLES
    ]


def cli_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HUILIU_DATABASE_URL": url,
        "HUILIU_SECRET_KEY": SECRET_KEY,
        "HUILIU_REDIS_URL": "",
    }


def run_cli(url: str, *args: str) -> tuple[float, float, str]:
    """`huiliu ARGS` as a child process: (seconds, its own peak RSS in MB, stdout)."""
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        argv = [sys.executable, "-m", "tests.bench.peak_of", str(peak_file), "app.cli", *args]
        started = time.perf_counter()
        with tempfile.TemporaryFile() as err:  # a file, not a pipe: it can never fill up
            proc = subprocess.Popen(argv, env=cli_env(url), stdout=subprocess.PIPE, stderr=err)
            out, _ = proc.communicate()
            elapsed = time.perf_counter() - started
            if proc.returncode != 0:
                err.seek(0)
                tail = err.read()[-2000:]
                raise RuntimeError(f"huiliu {' '.join(args)}: {proc.returncode} {tail!r}")
        return elapsed, float(peak_file.read_text()), out.decode()


async def prepare(kind: str, workdir: Path, messages: int) -> tuple[str, dict[str, float]]:
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any load
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'search.db'}"
    else:
        url = await recreate_pg_database(PG_DB)
    await migrate(url)
    channel_id = await create_wechat_channel(url)
    plan = bench_inbox._plan(max(1, messages // PER_CONVERSATION), messages, channel_id)
    t0 = time.perf_counter()
    if kind == "sqlite":
        await asyncio.to_thread(bench_inbox.seed_sqlite, url, plan, tables())
    else:
        await bench_inbox.seed_pg(url, plan, tables())
    seed = time.perf_counter() - t0
    reindex, reindex_mb, out = await asyncio.to_thread(run_cli, url, "search", "reindex")
    t0 = time.perf_counter()
    await analyze(kind, url)
    return url, {
        "messages": plan["messages"],
        "seed_seconds": seed,
        "reindex_seconds": reindex,
        "reindex_peak_mb": reindex_mb,
        "reindex_out": out.strip(),
        "analyze_seconds": time.perf_counter() - t0,
    }


async def analyze(kind: str, url: str) -> None:
    """Statistics for the new index (autovacuum would do this shortly on PostgreSQL)."""
    if kind == "sqlite":
        import sqlite3

        with sqlite3.connect(sqlite_path(url)) as conn:
            conn.execute("ANALYZE")
        return
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("VACUUM ANALYZE message_search")
    finally:
        await conn.close()


async def get(client: HttpClient, path: str, headers: dict[str, str]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    status, body = await client.request("GET", path, headers=headers)
    elapsed = time.perf_counter() - t0
    if status != 200:
        raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
    return elapsed, json.loads(body)


def search_path(q: str, cursor: str | None = None, limit: int | None = None) -> str:
    path = f"/api/v1/search?q={quote(q)}"
    if limit:
        path += f"&limit={limit}"
    if cursor:
        path += f"&cursor={quote(cursor)}"
    return path


async def measure(server: Server, token: str, n: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    client = await HttpClient.open(server.port)
    out: dict[str, Any] = {}
    try:
        for q in [q for qs in QUERIES.values() for q in qs]:  # warm-up, once per query
            await get(client, search_path(q), headers)
        for cls, queries in QUERIES.items():
            times: list[float] = []
            per_query: dict[str, list[float]] = {q: [] for q in queries}
            hits: dict[str, int] = {}
            started = time.perf_counter()
            for i in range(n):
                if i >= MIN_SAMPLES and time.perf_counter() - started > SECONDS_PER_CLASS:
                    break
                q = queries[i % len(queries)]
                t, page = await get(client, search_path(q), headers)
                times.append(t)
                per_query[q].append(t)
                hits[q] = len(page["items"])
            out[cls] = {
                "p50": percentile(times, 50),
                "p95": percentile(times, 95),
                "n": len(times),
                "worst_query": max(per_query, key=lambda q: percentile(per_query[q], 95)),
                "per_query_p95_ms": {
                    q: round(percentile(v, 95) * 1000, 1) for q, v in per_query.items()
                },
                "first_page_hits": hits,
            }
    finally:
        client.close()
    return out


async def api_ids(
    server: Server, token: str, q: str, cap: int = RECALL_CAP
) -> tuple[list[int], bool]:
    """The API's hit ids for `q`, newest first, pages of 200, up to `cap`; and whether the
    last page was reached."""
    headers = {"Authorization": f"Bearer {token}"}
    client = await HttpClient.open(server.port)
    ids: list[int] = []
    cursor = None
    try:
        while len(ids) < cap:
            _, page = await get(client, search_path(q, cursor, 200), headers)
            ids += [item["message"]["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return ids, True
    finally:
        client.close()
    return ids, False


async def like_ids(url: str, q: str) -> list[int]:
    """Ids whose content contains `q` (LIKE scan; lowercased for English), ascending;
    an English query keeps only whole-word matches (a word query is a whole word)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    english = q.isascii()
    column = "lower(content)" if english else "content"
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(f"SELECT id, content FROM messages WHERE {column} LIKE :p ORDER BY id"),  # noqa: S608
                    {"p": f"%{q.lower() if english else q}%"},
                )
            ).all()
    finally:
        await engine.dispose()
    if english:
        word = re.compile(rf"(?<![0-9a-z]){re.escape(q.lower())}(?![0-9a-z])")
        rows = [r for r in rows if word.search(r[1].lower())]
    return [int(r[0]) for r in rows]


def recall_of(
    api: list[int], truth: list[int], expected: set[int], compared: str
) -> dict[str, Any]:
    """One query's recall row: the API's hits against the LIKE scan's `expected` ids."""
    found = set(api)
    return {
        "api": len(api),
        "like": len(truth),
        "compared": compared,
        "recall": len(found & expected) / len(expected) if expected else 1.0,
        "extra": len(found - expected),
    }


def recall_summary(recall: dict[str, Any]) -> tuple[float, int, str]:
    """The worst recall, the extra hits and each query's `api/like` (* where capped)."""
    worst = min(x["recall"] for x in recall.values())
    extra = sum(x["extra"] for x in recall.values())
    detail = ", ".join(
        f"{q} {x['api']}/{x['like']}" + ("" if x["compared"] == "all" else "*")
        for q, x in recall.items()
    )
    return worst, extra, detail


async def recall(server: Server, token: str, url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for q in RECALL_QUERIES:
        api, complete = await api_ids(server, token, q)
        truth = await like_ids(url, q)
        expected = set(truth) if complete else set(truth[-len(api) :]) if api else set(truth)
        out[q] = recall_of(api, truth, expected, "all" if complete else f"newest {len(api)}")
    return out


async def export(url: str, workdir: Path) -> dict[str, Any]:
    out_file = workdir / "export.jsonl"
    seconds, peak_mb, out = await asyncio.to_thread(run_cli, url, "export", "--out", str(out_file))
    size = out_file.stat().st_size
    out_file.unlink()
    summary = json.loads(out)
    return {
        "seconds": seconds,
        "peak_mb": peak_mb,
        "messages": summary.get("messages"),
        "conversations": summary.get("conversations"),
        "file_mb": size / 2**20,
    }


async def run(kind: str, workdir: Path, *, messages: int, requests: int) -> dict[str, Any]:
    url, result = await prepare(kind, workdir, messages)
    (token,) = await create_agents(url, 1, role="supervisor")
    result["settle_seconds"] = await settle(url)  # scores and churn days current
    server = huiliu_server(workdir / f"search-{kind}", url)
    try:
        await server.start()
        result["search"] = await measure(server, token, requests)
        result["recall"] = await recall(server, token, url)
    finally:
        await server.stop()
    result["export"] = await export(url, workdir)
    return result
