"""The models and the migrations describe the same schema."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.ext.asyncio import create_async_engine

from app.i18n import preview
from app.models import Base
from app.searchindex.index import alembic_include_name


async def _diff(url: str, metadata: MetaData) -> list[object]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"compare_type": True, "include_name": alembic_include_name}
                    ),
                    metadata,
                )
            )
    finally:
        await engine.dispose()


async def test_models_match_migrations(db_url: str) -> None:
    assert await _diff(db_url, Base.metadata) == []


async def test_the_check_notices_a_difference(db_url: str) -> None:
    """Guard against a comparison that always passes: an extra model table is reported."""
    metadata = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    Table("not_migrated", metadata, Column("id", Integer, primary_key=True), Column("x", String(5)))
    diff = await _diff(db_url, metadata)
    assert any(d[0] == "add_table" and d[1].name == "not_migrated" for d in diff)  # type: ignore[index]


def _alembic(url: str, step: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["url"] = url
    config.attributes["configure_logging"] = False
    getattr(command, step)(config, revision)


# The revision before previews were split into type and text (0007strings).
BEFORE_PREVIEW_TYPES = "0007crm"
# Previews as revisions up to 0006 stored them, with their Chinese label baked in.
STORED = [
    "退款进度？",
    "[图片]",
    "[语音] 转写的文字",
    "[位置] 上海市徐汇区",
    "[链接] 订单详情",
    "[文件]",
    "[暂不支持的消息]",
    "[图片] 一条以标签开头的文字",
    "",
]


def _insert_row(db: sqlite3.Connection, table: str) -> None:
    """Row 1 of a parent table, with a value in each required column."""
    required = [
        (name, kind)
        for _, name, kind, notnull, _, pk in db.execute(f"PRAGMA table_info({table})")
        if notnull and not pk
    ]
    names = ", ".join(["id", *(name for name, _ in required)])
    values = [1, *(0 if "INT" in kind or "BOOL" in kind else "x" for _, kind in required)]
    db.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(values))})", values)


def test_stored_previews_become_type_and_text_and_display_as_before(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    _alembic(url, "upgrade", BEFORE_PREVIEW_TYPES)
    with closing(sqlite3.connect(path)) as db, db:
        for table in ("channels", "contacts", "contact_identities"):
            _insert_row(db, table)
        for i, preview_text in enumerate(STORED, 1):
            db.execute(
                "INSERT INTO conversations (id, channel_id, contact_id, identity_id, status, "
                "unread_count, last_message_preview, created_at, updated_at, last_message_at) "
                "VALUES (?, 1, 1, 1, 'open', 0, ?, '2026-01-01', '2026-01-01', '2026-01-01')",
                (i, preview_text),
            )
    _alembic(url, "upgrade", "head")
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT last_message_type, last_message_preview FROM conversations ORDER BY id"
        ).fetchall()
    assert rows[1] == ("image", "") and rows[3] == ("location", "上海市徐汇区")
    assert rows[0] == ("text", "退款进度？") and rows[7][0] == "text"
    # Made at display time, the Chinese preview is what was stored; English gets its own labels.
    assert [preview(kind, text) for kind, text in rows] == STORED
    assert preview(*rows[3], lang="en") == "[Location] 上海市徐汇区"
    _alembic(url, "downgrade", BEFORE_PREVIEW_TYPES)
    with closing(sqlite3.connect(path)) as db:
        back = db.execute("SELECT last_message_preview FROM conversations ORDER BY id").fetchall()
    assert [text for (text,) in back] == STORED
