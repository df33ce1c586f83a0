"""`huiliu serve --workers 2` plus a second host's `huiliu serve`, on PostgreSQL + Redis:
one deployment, three processes.

Agent websockets held by several processes (checked in /proc, not assumed: which worker
of `--workers 2` accepts a connection is the kernel's choice, so a second server stands
for another host and guarantees a socket elsewhere) get every `message.created`,
whichever worker took the push; replies posted to either server are sent to the platform
exactly once each, in order per conversation; and the processes share one platform
token (the refresh is coordinated in the database: the fake WeChat sees one request).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from app.db import Database
from app.models import Message
from sandbox.wechat.fake import FakeWeChat
from tests.bench.bench_support import (
    HttpClient,
    PushMaker,
    create_agents,
    create_wechat_channel,
    huiliu_server,
)
from tests.faults.faults_support import REDIS_URL, eventually, needs_pg_and_redis
from tests.support.server import running

pytestmark = needs_pg_and_redis

WORKERS = 2
CUSTOMERS = 6
REPLIES_EACH = 2


def worker_pids(parent: int) -> list[int]:
    """uvicorn's worker processes: the children of `huiliu serve` that run the server
    (multiprocessing also starts a resource tracker, which is left out)."""
    with open(f"/proc/{parent}/task/{parent}/children") as f:  # noqa: ASYNC230 - /proc, instant
        children = [int(pid) for pid in f.read().split()]
    workers = []
    for pid in children:
        with open(f"/proc/{pid}/cmdline", "rb") as f:  # noqa: ASYNC230
            if b"resource_tracker" not in f.read():
                workers.append(pid)
    return workers


def owner_of(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """The pid holding the server side of the TCP connection from `client_port`."""
    inode = None
    with open("/proc/net/tcp") as f:  # noqa: ASYNC230 - /proc, instant
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(":")[1], 16) == server_port and (
                int(remote.split(":")[1], 16) == client_port
            ):
                inode = fields[9]
    if inode is None:
        return None
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


async def test_two_workers_share_live_events_deliveries_and_the_token(
    db_url: str, tmp_path: Path
) -> None:
    fake = FakeWeChat()
    db = Database(db_url)
    sockets: list[ClientConnection] = []
    try:
        channel_id = await create_wechat_channel(db_url, fake.app_id, fake.app_secret)
        (token,) = await create_agents(db_url, 1)
        async with running(fake.app) as fake_host:
            server = huiliu_server(tmp_path / "srv", db_url, redis_url=REDIS_URL)
            server.argv += ["--workers", str(WORKERS)]
            other = huiliu_server(tmp_path / "other", db_url, redis_url=REDIS_URL, name="other")
            for s in (server, other):
                s.env["HUILIU_WECHAT_API_BASE"] = f"http://{fake_host}"
                # No safety-net poll in the test: only Redis carries events across processes.
                s.env["HUILIU_EVENTS_POLL_SECONDS"] = "3600"
            await server.start()
            await other.start()
            try:
                assert server.proc is not None and other.proc is not None
                parent = server.proc.pid
                await eventually(lambda: _true(len(worker_pids(parent)) == WORKERS), 20)
                pids = worker_pids(parent)

                # Sockets on both servers, opened in bursts so that both workers of the
                # first are likely to take some; the owner of each is read in /proc.
                owners: dict[int, int] = {}
                for host, candidates in ((server, pids), (other, [other.proc.pid])):
                    url = f"ws://127.0.0.1:{host.port}/api/v1/events?token={token}"
                    burst = await asyncio.gather(*(connect(url) for _ in range(6)))
                    sockets.extend(burst)
                    for ws in burst:
                        owner = owner_of(host.port, ws.local_address[1], candidates)
                        assert owner is not None
                        owners[owner] = owners.get(owner, 0) + 1
                assert len(owners) >= 2, owners

                # Pushes on fresh connections (either worker takes each one).
                maker = PushMaker(f"/webhooks/wechat/{channel_id}", customers=CUSTOMERS)
                pushed: dict[str, str] = {}  # content -> openid
                for _ in range(CUSTOMERS):
                    path, body, msg_id = maker.make(text=f"你好 {maker.next_id + 1}")
                    openid = f"oBench{msg_id % CUSTOMERS:06d}"
                    fake.customer_wrote(openid)
                    client = await HttpClient.open(server.port)
                    try:
                        status, answer = await client.request(
                            "POST", path, body, {"Content-Type": "text/xml"}
                        )
                    finally:
                        client.close()
                    assert (status, answer) == (200, b"success")
                    pushed[f"你好 {msg_id}"] = openid

                async def created_on(ws: ClientConnection) -> set[str]:
                    seen: set[str] = set()
                    async with asyncio.timeout(15):
                        while not set(pushed) <= seen:
                            event = json.loads(await ws.recv())
                            if event.get("type") == "message.created":
                                seen.add(event["data"]["content"])
                    return seen

                results = await asyncio.gather(*(created_on(ws) for ws in sockets))
                assert all(set(pushed) <= seen for seen in results)

                # Replies through both workers: each sent once, in order per customer.
                headers = {"Authorization": f"Bearer {token}"}
                expected: dict[str, list[str]] = {}
                conversations = await _conversations(server.base, headers, pushed)
                assert len(conversations) == CUSTOMERS
                for n in range(REPLIES_EACH):
                    for conv in conversations:
                        text = f"回复 {conv['id']}-{n}"
                        base = (server, other)[(n + conv["id"]) % 2].base
                        async with httpx.AsyncClient(base_url=base, headers=headers) as h:
                            r = await h.post(
                                f"/api/v1/conversations/{conv['id']}/messages",
                                json={"content": text},
                            )
                        assert r.status_code == 201, r.text
                        expected.setdefault(conv["openid"], []).append(text)

                async def all_sent() -> bool:
                    return len(fake.sent) >= CUSTOMERS * REPLIES_EACH

                await eventually(all_sent, 30, interval=0.1)
                await asyncio.sleep(1)  # a duplicate send would show up by now
                got: dict[str, list[str]] = {}
                for body in fake.sent:
                    got.setdefault(body["touser"], []).append(body["text"]["content"])
                assert got == expected
                assert len(fake.token_requests) == 1, fake.token_requests
            finally:
                for ws in sockets:
                    await ws.close()
                await server.stop()
                await other.stop()
        async with db.sessions() as session:
            statuses = set(
                await session.scalars(
                    select(Message.delivery_status).where(Message.direction == "outbound")
                )
            )
        assert statuses == {"sent"}
    finally:
        await db.dispose()


async def _true(value: bool) -> bool:
    return value


async def _conversations(
    base: str, headers: dict[str, str], pushed: dict[str, str]
) -> list[dict[str, Any]]:
    """Each conversation with its customer's openid (known from the pushed text)."""
    out = []
    async with httpx.AsyncClient(base_url=base, headers=headers) as h:
        items = (await h.get("/api/v1/conversations", params={"limit": 50})).json()["items"]
        for c in items:
            messages = (await h.get(f"/api/v1/conversations/{c['id']}/messages")).json()
            (first,) = messages["items"]
            out.append({"id": c["id"], "openid": pushed[first["content"]]})
    return out
