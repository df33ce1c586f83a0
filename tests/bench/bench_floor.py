"""The floor: the least a WeChat webhook endpoint can do, to measure Huiliu's ingest against.

Verify the signature, parse the XML with defusedxml, insert one row (idempotent on
MsgId) into the same database with the same engine settings as Huiliu, answer
`success`. No contact, no conversation, no event log, no live update.
Run as `uvicorn tests.bench.bench_floor:create_floor --factory`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import defusedxml.ElementTree as SafeET
from fastapi import FastAPI, Request, Response
from sqlalchemy import text

from app.db import make_engine

CREATE = """
CREATE TABLE IF NOT EXISTS floor_messages (
    id {pk},
    channel_id INTEGER NOT NULL,
    external_id VARCHAR(200) NOT NULL,
    from_user VARCHAR(200) NOT NULL,
    content TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (channel_id, external_id)
)
"""
INSERT = text(
    "INSERT INTO floor_messages (channel_id, external_id, from_user, content, created_at) "
    "VALUES (:channel_id, :external_id, :from_user, :content, :created_at) "
    "ON CONFLICT (channel_id, external_id) DO NOTHING"
)


def create_table_sql(dialect: str) -> str:
    pk = "SERIAL PRIMARY KEY" if dialect == "postgresql" else "INTEGER PRIMARY KEY"
    return CREATE.format(pk=pk)


def create_floor() -> FastAPI:
    engine = make_engine(os.environ["FLOOR_DATABASE_URL"])
    token = os.environ["FLOOR_TOKEN"]

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/floor/wechat/{channel_id}")
    async def push(channel_id: int, request: Request) -> Response:
        q = request.query_params
        parts = sorted([token, q.get("timestamp", ""), q.get("nonce", "")])
        expected = hashlib.sha1("".join(parts).encode()).hexdigest()  # noqa: S324 - WeChat's
        if not hmac.compare_digest(expected, q.get("signature", "")):
            return Response("bad signature", status_code=403)
        body = await request.body()
        try:
            root = SafeET.fromstring(body, forbid_dtd=True)
        except Exception:
            return Response("malformed", status_code=400)
        fields = {child.tag: child.text or "" for child in root}
        async with engine.begin() as conn:
            await conn.execute(
                INSERT,
                {
                    "channel_id": channel_id,
                    "external_id": fields.get("MsgId", ""),
                    "from_user": fields.get("FromUserName", ""),
                    "content": fields.get("Content", ""),
                    "created_at": int(fields.get("CreateTime") or 0),
                },
            )
        return Response(b"success", media_type="text/plain")

    return app
