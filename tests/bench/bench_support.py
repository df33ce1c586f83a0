"""Shared bench machinery: databases, server subprocesses, a lean HTTP client, percentiles.

Everything runs on loopback. Servers are real uvicorn processes started the way an
operator starts them; the load generator is this process, kept cheap (raw HTTP/1.1
keep-alive over asyncio streams) because it shares the machine's cores with the server.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_DSN = os.environ.get("HUILIU_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HUILIU_BENCH_REDIS", "redis://127.0.0.1:6379/0")
SECRET_KEY = "bench-secret-key-not-for-production-0123456789"
WECHAT_TOKEN = "benchtoken"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# ---------------------------------------------------------------- databases


def pg_url(dbname: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{dbname}"


async def recreate_pg_database(dbname: str) -> str:
    """A fresh, empty database on the shared server (never `test`: the suite truncates it)."""
    import asyncpg

    assert dbname.startswith("huiliu_bench"), dbname
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        await conn.close()
    return pg_url(dbname)


async def drop_pg_database(dbname: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    finally:
        await conn.close()


def pg_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


async def migrate(url: str) -> None:
    from app.cli import run_migrations

    # Alembic's env.py runs its own event loop: keep it off ours.
    await asyncio.to_thread(run_migrations, url)


async def create_wechat_channel(
    url: str, app_id: str = "wxbench", app_secret: str = "benchsecret"
) -> int:
    """A WeChat channel signed with WECHAT_TOKEN (what PushMaker signs with); its id."""
    from app.db import Database
    from app.workspace import create_channel

    db = Database(url)
    try:
        async with db.session() as session:
            channel = await create_channel(
                session,
                "wechat",
                "压测公众号",
                {"app_id": app_id, "app_secret": app_secret, "token": WECHAT_TOKEN},
            )
            return channel.id
    finally:
        await db.dispose()


async def create_agents(url: str, count: int, role: str = "agent") -> list[str]:
    """`count` users with API tokens, inserted in bulk (argon2 per user would take minutes)."""
    from sqlalchemy import insert, select

    from app.accounts.security import hash_token, new_token
    from app.db import Database
    from app.models import ApiToken, User

    db = Database(url)
    tokens = [new_token() for _ in range(count)]
    try:
        async with db.session() as session:
            stamp = int(time.time() * 1000)
            emails = [f"{role}{stamp}-{i}@bench.local" for i in range(count)]
            await session.execute(
                insert(User),
                [
                    {"email": e, "name": f"压测{i}", "role": role, "password_hash": None}
                    for i, e in enumerate(emails)
                ],
            )
            ids = (
                await session.execute(select(User.id, User.email).where(User.email.in_(emails)))
            ).all()
            by_email = {email: uid for uid, email in ids}
            await session.execute(
                insert(ApiToken),
                [
                    {"user_id": by_email[e], "token_hash": hash_token(t)}
                    for e, t in zip(emails, tokens, strict=True)
                ],
            )
    finally:
        await db.dispose()
    return tokens


def sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1]


def sqlite_count(url: str, table: str) -> int:
    with sqlite3.connect(sqlite_path(url)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


async def count_rows(url: str, table: str, where: str = "") -> int:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            sql = f"SELECT count(*) FROM {table} {where}"  # noqa: S608
            return int((await conn.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    """A server subprocess on a loopback port; output goes to a log file, not a pipe."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    health: str = "/healthz"
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.cwd / f"{self.name}.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 60) -> None:
        self.cwd.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.env}
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, started once
            self.argv, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.tail()}")
            try:
                client = await HttpClient.open(self.port)
                try:
                    status, _ = await client.request("GET", self.health)
                finally:
                    client.close()
                if status == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start: {self.tail()}")

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def rss_bytes(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    async def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - a child process
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode


def huiliu_server(
    workdir: Path,
    database_url: str,
    *,
    redis_url: str | None = None,
    name: str = "huiliu",
    workers: int = 1,
) -> Server:
    port = free_port()
    env = {
        "HUILIU_DATABASE_URL": database_url,
        "HUILIU_SECRET_KEY": SECRET_KEY,
        "HUILIU_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "HUILIU_REDIS_URL": redis_url or "",
    }
    argv = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    return Server(name, argv, env, workdir, port)


def floor_server(workdir: Path, database_url: str) -> Server:
    port = free_port()
    env = {"FLOOR_DATABASE_URL": database_url, "FLOOR_TOKEN": WECHAT_TOKEN}
    return factory_server("floor", "tests.bench.bench_floor:create_floor", env, workdir, port)


def factory_server(
    name: str, factory: str, env: dict[str, str], workdir: Path, port: int
) -> Server:
    """An app factory under uvicorn with the settings `huiliu serve` uses (app/cli), so
    only the app differs from the server it is compared with."""
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "info",
        "--proxy-headers",
    ]
    return Server(name, argv, env, workdir, port)


# ---------------------------------------------------------------- a lean HTTP/1.1 client


class HttpClient:
    """One keep-alive connection; requests in sequence. Enough HTTP for our own servers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> HttpClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def close(self) -> None:
        self.writer.close()

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        chunked = False
        for line in raw.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            return status, b"".join(p[:-2] for p in parts)
        return status, await self.reader.readexactly(length) if length else b""


# ---------------------------------------------------------------- WeChat pushes


class PushMaker:
    """Plain-mode WeChat pushes with unique MsgIds, signed as WeChat signs them.

    The signature covers token, timestamp and nonce only (channels.md 1.2); each push is
    signed with the current time and its own nonce, as WeChat does, because the server
    refuses a (timestamp, nonce) reused with another body and pushes outside 5 minutes.
    """

    def __init__(self, path: str, customers: int = 500, prefix: int | None = None) -> None:
        from channels.weixin.crypto import sign
        from sandbox.wechat.pushes import message_xml

        self.sign = sign
        self.path = path
        self.customers = customers
        # MsgIds unique across runs: a time-based high part, a counter below it.
        self.next_id = (prefix if prefix is not None else int(time.time() * 1000)) * 10**6
        self.message_xml = message_xml
        self.created = int(time.time())

    def make(self, text: str | None = None) -> tuple[str, bytes, int]:
        self.next_id += 1
        msg_id = self.next_id
        openid = f"oBench{msg_id % self.customers:06d}"
        body = self.message_xml(
            openid,
            Content=text or f"压测消息 {msg_id}：请问订单什么时候发货？",
            msg_id=msg_id,
            create_time=self.created,
        ).encode("utf-8")
        timestamp, nonce = str(int(time.time())), str(msg_id)
        signature = self.sign(WECHAT_TOKEN, timestamp, nonce)
        signed = {"signature": signature, "timestamp": timestamp, "nonce": nonce}
        query = urlencode({**signed, "openid": openid})
        return f"{self.path}?{query}", body, msg_id


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def kv(**values: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def counting(dialect: str, on: bool) -> tuple[str, ...]:
    """The statements that create (`on`) or drop the database's count of customer
    messages (app/service/inbound_counts.py). Seeders that write whole facts rows
    themselves, straight into the schema, drop it while they write."""
    from app.service import inbound_counts

    return (inbound_counts.CREATE if on else inbound_counts.DROP)[dialect]
