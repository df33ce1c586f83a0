"""WeCom ingest: encrypted notices -> sync_msg pulls -> stored messages per second.

A `huiliu serve` process reaches a fake kf API (sandbox/wecom) served from this process
through HUILIU_WECOM_API_BASE. Customers write into the fake in batches; after each
batch WeCom's encrypted notice is POSTed to the webhook (8 connections), and Huiliu
answers at once and pulls. The figure is messages stored per second, from the first
write until every written message is in the database (so the pulls' lag counts), with
the notices, sync_msg calls and the notice answer latency beside it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sandbox.wecom.fake import FakeWeCom
from tests.bench.bench_support import (
    HttpClient,
    count_rows,
    huiliu_server,
    migrate,
    recreate_pg_database,
)
from tests.support.server import running

CONNECTIONS = 8
BATCH = 20  # customer messages between two notices
CUSTOMERS = 500
DRAIN_TIMEOUT = 120.0


async def create_wecom_channel(url: str, fake: FakeWeCom) -> int:
    from app.db import Database
    from app.workspace import create_channel

    db = Database(url)
    try:
        async with db.session() as session:
            channel = await create_channel(
                session,
                "wecom",
                "压测微信客服",
                {
                    "corp_id": fake.corp_id,
                    "secret": fake.secret,
                    "token": fake.token,
                    "aes_key": fake.aes_key,
                    "open_kfid": list(fake.open_kfids),
                },
            )
            return channel.id
    finally:
        await db.dispose()


async def run(kind: str, workdir: Path, *, seconds: float) -> dict[str, Any]:
    if kind == "sqlite":
        workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any load
        url = f"sqlite+aiosqlite:///{workdir / 'wecom.db'}"
    else:
        url = await recreate_pg_database("huiliu_bench_wecom")
    await migrate(url)
    fake = FakeWeCom()
    channel_id = await create_wecom_channel(url, fake)
    path = f"/webhooks/wecom/{channel_id}"
    written = 0
    latencies: list[float] = []
    errors: dict[int, int] = {}
    async with running(fake.app) as fake_host:
        server = huiliu_server(workdir / "huiliu", url)
        server.env["HUILIU_WECOM_API_BASE"] = f"http://{fake_host}"
        await server.start()
        try:
            clients = [await HttpClient.open(server.port) for _ in range(CONNECTIONS)]
            started = time.perf_counter()
            deadline = started + seconds

            async def loop(client: HttpClient, lane: int) -> None:
                nonlocal written
                n = 0
                while time.perf_counter() < deadline:
                    for _ in range(BATCH):
                        n += 1
                        customer = f"wmBench{(lane * 7919 + n) % CUSTOMERS:05d}"
                        fake.customer_writes(customer, f"压测消息 {lane}-{n}")
                    written += BATCH
                    query, body = fake.notice()
                    target = f"{path}?{urlencode(query)}"
                    t0 = time.perf_counter()
                    status, _ = await client.request(
                        "POST", target, body, {"Content-Type": "text/xml; charset=utf-8"}
                    )
                    latencies.append(time.perf_counter() - t0)
                    if status != 200:
                        errors[status] = errors.get(status, 0) + 1

            await asyncio.gather(*(loop(c, i) for i, c in enumerate(clients)))
            for c in clients:
                c.close()
            stored = 0
            drain_deadline = time.perf_counter() + DRAIN_TIMEOUT
            while time.perf_counter() < drain_deadline:
                stored = await count_rows(url, "messages")
                if stored >= written:
                    break
                await asyncio.sleep(0.2)
            elapsed = time.perf_counter() - started
        finally:
            await server.stop()
    latencies.sort()
    return {
        "kind": kind,
        "written": written,
        "stored": stored,
        "notices": len(latencies),
        "sync_calls": len(fake.sync_calls),
        "rate": stored / elapsed if elapsed else float("nan"),
        "ack_p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "ack_p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
        "errors": errors,
    }
