"""The models and the migrations describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.ext.asyncio import create_async_engine

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
