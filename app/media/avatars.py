"""Customers' avatars from the platforms, copied to our storage after the acknowledgement
and served from our origin: a platform's image host may refuse a browser that is not
its app (Douyin's CDN does), and the page's CSP is then not our problem either."""

from __future__ import annotations

import logging

import httpx
from sqlalchemy import or_, select

from app.db import Database
from app.models import Contact
from app.storage import AttachmentStorage

log = logging.getLogger(__name__)

BATCH = 10
MAX_BYTES = 1_000_000  # an avatar is a few dozen KB; anything this big is not one
TIMEOUT = 10.0
# The formats a browser shows and cannot execute (no SVG), by their first bytes.
SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


def image_type(content: bytes) -> str | None:
    for magic, mime in SIGNATURES.items():
        if content.startswith(magic):
            return mime
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def avatar_key(contact_id: int) -> str:
    return f"avatars/{contact_id}"


def avatar_path(contact_id: int) -> str:
    return f"/api/v1/contacts/{contact_id}/avatar"


async def _download(http: httpx.AsyncClient, url: str) -> bytes | None:
    try:
        async with http.stream("GET", url, timeout=TIMEOUT, follow_redirects=True) as r:
            if r.status_code != 200:
                return None
            content = b""
            async for chunk in r.aiter_bytes():
                content += chunk
                if len(content) > MAX_BYTES:
                    return None
    except httpx.HTTPError:
        return None
    return content if image_type(content) else None


async def cache_avatars(db: Database, http: httpx.AsyncClient, storage: AttachmentStorage) -> int:
    """Copy up to BATCH outside avatars into storage; the number looked at. A picture that
    cannot be had is dropped from the contact (the page shows the initial); the identity
    keeps the platform's URL, so a new picture from the platform is tried again."""
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(Contact.id, Contact.avatar_url)
                .where(
                    or_(
                        Contact.avatar_url.like("http://%"),
                        Contact.avatar_url.like("https://%"),
                    )
                )
                .order_by(Contact.id)
                .limit(BATCH)
            )
        ).all()
    for contact_id, url in rows:
        assert url is not None  # the LIKE above
        content = await _download(http, url)
        if content is not None:
            await storage.put(avatar_key(contact_id), content)
        async with db.session() as session:
            contact = await session.get(Contact, contact_id)
            if contact is not None and contact.avatar_url == url:  # unchanged meanwhile
                contact.avatar_url = avatar_path(contact_id) if content is not None else None
        if content is None:
            log.info("avatar of contact %s could not be fetched", contact_id)
    return len(rows)
