"""The /retention page: who sees what, hostile names escaped, the weekly CSV."""

from __future__ import annotations

import re
from typing import Any

import httpx

from app.models import utcnow_for_models
from app.retention.worker import refresh_once
from tests.conftest import push
from tests.web.support import sign_in, staff

XSS = "<img src=x onerror=alert(1)>"


async def test_retention_page_by_role_and_escaped(
    client: httpx.AsyncClient, factory: Any, app: Any
) -> None:
    assert (await client.get("/retention")).headers["location"].startswith("/login?next=")
    ch = await factory.channel("A", "sa")
    await push(client, ch, {"id": "x1", "from": "u1", "name": XSS, "text": "我要投诉 12315"})
    sup = await staff(factory, "supervisor")
    # marked lost: on the win-back list (lost in the last 180 days)
    cid = (await client.get("/api/v1/contacts", headers=sup["headers"])).json()["items"][0]["id"]
    r = await client.post(
        f"/api/v1/contacts/{cid}/lifecycle",
        json={"lifecycle": "lost", "reason": "<b>价格</b>"},
        headers=sup["headers"],
    )
    assert r.status_code == 200
    await refresh_once(app.state.services.db, utcnow_for_models(), full=True)
    await sign_in(client, sup["email"])
    r = await client.get("/retention")
    assert r.status_code == 200
    at = r.text.find(XSS)
    assert at < 0, r.text[max(0, at - 300) : at + 60]
    assert "&lt;img src=x" in r.text and 'data-kind="win_back"' in r.text
    assert 'id="churn-chart"' in r.text and "<script>" not in r.text
    # Every text is filled in: no catalog placeholder such as "{amount}" left on the page
    # (the win-back list's spend header once showed "累计消费 ¥{amount}").
    shown = re.sub(r"<script[^>]*>.*?</script>", "", r.text, flags=re.S)  # not the catalog
    assert not re.search(r"\{[a-z_]+\}", shown), re.search(r"\{[a-z_]+\}", shown)
    assert 'href="/retention"' in (await client.get("/customers")).text
    # an agent who owns none of them sees neither the customer nor its figures
    agent = await staff(factory, "agent")
    await sign_in(client, agent["email"])
    r = await client.get("/retention")
    assert r.status_code == 200 and "&lt;img src=x" not in r.text


async def test_weekly_csv(client: httpx.AsyncClient, factory: Any) -> None:
    sup = await factory.user("supervisor")
    r = await client.get("/api/v1/reports/churn?period=week&format=csv", headers=sup["headers"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("period_start,period_end,group") and len(lines) == 13
