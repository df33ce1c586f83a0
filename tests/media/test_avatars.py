"""Platform avatars are copied after the acknowledgement and served from our origin;
what cannot be fetched (or is not a picture) is dropped so the page shows the initial."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from app.media.avatars import cache_avatars
from app.models import Contact, ContactIdentity
from tests.conftest import push

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def platform(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/ok.png":
        return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
    if request.url.path == "/page.html":
        return httpx.Response(
            200, content=b"<svg onload=alert(1)>", headers={"content-type": "image/svg+xml"}
        )
    return httpx.Response(404)


async def test_avatars_are_cached_and_served_from_our_origin(
    client: httpx.AsyncClient, factory: Any, app: Any
) -> None:
    ch = await factory.channel()
    agent = await factory.user("agent")
    for n in range(3):
        await push(client, ch, {"id": str(n), "from": f"u{n}", "name": f"客户{n}", "text": "在吗"})
    urls = {
        "客户0": "https://p3.douyinpic.example/ok.png",
        "客户1": "https://p3.douyinpic.example/gone.png",
        "客户2": "https://p3.douyinpic.example/page.html",
    }
    async with app.state.services.db.session() as session:
        for contact in await session.scalars(select(Contact)):
            contact.avatar_url = urls[contact.name]
        for identity in await session.scalars(select(ContactIdentity)):
            identity.avatar_url = "https://p3.douyinpic.example/original"
    async with httpx.AsyncClient(transport=httpx.MockTransport(platform)) as http:
        assert await cache_avatars(app.state.services.db, http, app.state.services.storage) == 3
        assert (
            await cache_avatars(app.state.services.db, http, app.state.services.storage) == 0
        )  # done
    async with app.state.services.db.sessions() as session:
        contacts = {c.name: c for c in await session.scalars(select(Contact))}
        identities = list(await session.scalars(select(ContactIdentity.avatar_url)))
    ok = contacts["客户0"]
    assert ok.avatar_url == f"/api/v1/contacts/{ok.id}/avatar"
    assert contacts["客户1"].avatar_url is None and contacts["客户2"].avatar_url is None
    assert set(identities) == {"https://p3.douyinpic.example/original"}  # the source is kept

    r = await client.get(ok.avatar_url, headers=agent["headers"])
    assert r.status_code == 200 and r.content == PNG
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert (await client.get(ok.avatar_url)).status_code == 401
    missing = f"/api/v1/contacts/{contacts['客户1'].id}/avatar"
    assert (await client.get(missing, headers=agent["headers"])).status_code == 404
    conv = (await client.get("/api/v1/conversations", headers=agent["headers"])).json()
    shown = {c["contact"]["name"]: c["contact"]["avatar_url"] for c in conv["items"]}
    assert shown["客户0"] == ok.avatar_url
