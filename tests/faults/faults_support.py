"""What the fault tests share: the skip rule, a TCP proxy that can be cut, a private Redis.

Fault tests run on PostgreSQL + Redis only (HUILIU_TEST_DATABASE_URL and
HUILIU_TEST_REDIS_URL set); they never stop the shared servers: PostgreSQL is cut
through a proxy the test owns, and Redis restarts are done on a redis-server the
test started on a port of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator

import pytest

from tests.support.server import free_port

PG_URL = os.environ.get("HUILIU_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("HUILIU_TEST_REDIS_URL")

needs_pg_and_redis = pytest.mark.skipif(
    not (PG_URL and REDIS_URL),
    reason="fault tests need HUILIU_TEST_DATABASE_URL and HUILIU_TEST_REDIS_URL",
)


class CuttableProxy:
    """127.0.0.1:port -> target, until `cut()`: then every connection is reset and new
    ones are refused, as when the database server is down; `restore()` listens again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError, RuntimeError):
                dst.close()

        for coro in (pipe(reader, up_writer), pipe(up_reader, writer)):
            task = asyncio.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            with contextlib.suppress(OSError, RuntimeError):
                writer.transport.abort()
        self._writers.clear()
        await self._settle()

    async def restore(self) -> None:
        await self.start()

    async def _settle(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def close(self) -> None:
        await self.cut()


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port; always stopped at the end."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for below
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait, 10)
        self.proc = None


@contextlib.asynccontextmanager
async def private_redis() -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis()
    try:
        await redis.start()
        yield redis
    finally:
        await redis.stop()


async def eventually(check: object, timeout: float, interval: float = 0.05) -> None:
    """Wait until the async callable `check` returns true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(interval)
