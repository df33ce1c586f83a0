"""The SQLite driver glue (app/sqlite_driver.py): one thread hop per statement, and
everything SQLAlchemy reads from a cursor still right (rows, columns, rowcount, lastrowid,
errors, streaming)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import make_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, n INTEGER)")
        )
    yield engine
    await engine.dispose()


async def test_one_statement_is_one_call_into_the_database_thread(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        raw: Any = (await conn.get_raw_connection()).driver_connection
        queue = raw._tx  # the thread reads this queue; calls are put through the wrapper
        calls = 0

        class Counting:
            def put_nowait(self, item: Any) -> None:
                nonlocal calls
                calls += 1
                queue.put_nowait(item)

        raw._tx = Counting()
        try:
            rows = (await conn.execute(text("SELECT 1 AS one, 'x' AS two"))).all()
            await conn.execute(text("INSERT INTO t (name, n) VALUES ('a', 1)"))
        finally:
            raw._tx = queue
    assert rows == [(1, "x")]
    assert calls == 2  # SQLAlchemy's own adapter made 4 per SELECT, 3 per INSERT


async def test_rows_columns_rowcount_lastrowid_and_returning(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (name, n) VALUES ('a', 1)"))
        assert inserted.lastrowid == 1
        many = await conn.execute(
            text("INSERT INTO t (name, n) VALUES (:name, :n)"),
            [{"name": "b", "n": 2}, {"name": "c", "n": 3}],
        )
        assert many.rowcount == 2
        returned = await conn.execute(
            text("INSERT INTO t (name, n) VALUES ('d', 4) RETURNING id, name")
        )
        assert [tuple(r) for r in returned] == [(4, "d")]
        updated = await conn.execute(text("UPDATE t SET n = n + 10 WHERE n >= 2"))
        assert updated.rowcount == 3
        result = await conn.execute(text("SELECT name, n FROM t ORDER BY id"))
        assert list(result.keys()) == ["name", "n"]
        assert [r._asdict() for r in result] == [
            {"name": "a", "n": 1},
            {"name": "b", "n": 12},
            {"name": "c", "n": 13},
            {"name": "d", "n": 14},
        ]
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"


async def test_an_error_is_sqlalchemys_and_the_connection_goes_on(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('same')"))
    with pytest.raises(exc.IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('same')"))
    with pytest.raises(exc.OperationalError):
        async with engine.begin() as conn:
            await conn.execute(text("SELECT nope FROM t"))
    async with engine.begin() as conn:  # the one pooled connection still works
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1


async def test_streamed_results_still_stream(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO t (name, n) VALUES (:name, :n)"),
            [{"name": f"r{i}", "n": i} for i in range(250)],
        )
    async with engine.connect() as conn:
        result = await conn.stream(text("SELECT n FROM t ORDER BY n"))
        seen = [row.n async for row in result]
    assert seen == list(range(250))
