"""A user withdrawing the grant (`unauthorize`): a hard churn event in their history."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from app.models import AuditLog, Message
from app.workspace import create_channel
from channels.base import ContentType, InboundMessage, PlatformNotice
from channels.douyin import connector
from channels.douyin.events import HARD_CHURN, UNAUTHORIZE_TEXT
from tests.channels.douyin.douyin_support import ACCOUNT, CUSTOMER, config, fixture, signed


def test_a_customer_withdrawing_the_grant_is_a_hard_churn_event() -> None:
    result = connector.handle_webhook(config(), signed(fixture("unauthorize.json")))
    (message,) = result.messages
    assert isinstance(message, InboundMessage)
    assert message.content_type == ContentType.EVENT
    assert message.contact.external_id == CUSTOMER
    assert message.text == UNAUTHORIZE_TEXT
    assert message.extra == {
        "event": "unauthorize",
        "churn": HARD_CHURN,
        "scopes": ["im.direct_message", "user_info"],
    }
    assert message.counts_as_unread is False
    assert message.external_id == "msg-id-header-1"


def test_the_verbatim_sample_without_a_user_is_acknowledged_only() -> None:
    result = connector.handle_webhook(config(), signed(fixture("unauthorize_no_user.json")))
    assert (result.status, result.messages, result.notices) == (200, [], [])


def test_the_account_withdrawing_its_grant_goes_to_the_channel_log() -> None:
    body = json.dumps({"event": "unauthorize", "from_user_id": ACCOUNT, "content": {}}).encode()
    result = connector.handle_webhook(config(), signed(body))
    assert result.messages == []
    (notice,) = result.notices
    assert isinstance(notice, PlatformNotice) and "re-authorization" in notice.text


def test_authorize_again_is_an_event_too() -> None:
    body = json.dumps(
        {"event": "authorize", "from_user_id": CUSTOMER, "content": {"scopes": ["user_info"]}}
    ).encode()
    (message,) = connector.handle_webhook(config(), signed(body)).messages
    assert message.content_type == ContentType.EVENT
    assert message.extra == {"event": "authorize", "scopes": ["user_info"]}


async def test_stored_in_the_customers_history_through_the_webhook(app: Any, client: Any) -> None:
    async with app.state.services.db.session() as session:
        channel = await create_channel(
            session,
            "douyin",
            "抖音",
            {
                "client_key": "asdfavetgbvasf",
                "client_secret": "test_client_secret",
                "open_id": ACCOUNT,
                "access_token": "act.x",
                "refresh_token": "rft.x",
            },
        )
    url = f"/webhooks/douyin/{channel.id}"
    for body in (fixture("unauthorize.json"), fixture("unauthorize.json")):  # and its retry
        request = signed(body)
        r = await client.post(url, content=body, headers=dict(request.headers))
        assert r.status_code == 200
    own = json.dumps({"event": "unauthorize", "from_user_id": ACCOUNT, "content": {}}).encode()
    r = await client.post(url, content=own, headers=dict(signed(own, msg_id="m2").headers))
    assert r.status_code == 200
    async with app.state.services.db.sessions() as s:
        stored = list(await s.scalars(select(Message)))
        logged = list(
            await s.scalars(select(AuditLog).where(AuditLog.action == "channel.platform_notice"))
        )
    assert [(m.content_type, m.extra.get("churn")) for m in stored] == [("event", "hard")]
    assert [n.details["event"] for n in logged] == ["unauthorize"]
