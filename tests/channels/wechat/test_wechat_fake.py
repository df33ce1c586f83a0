"""The fake WeChat API itself: token endpoints and push building behave like WeChat."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from channels.wechat import WeChatConfig, crypto
from channels.wechat.fake import FakeWeChat, build_push, message_xml
from channels.wechat.parser import parse_xml


@pytest.fixture
async def client(fake: FakeWeChat) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as http:
        yield http


def stable(fake: FakeWeChat, **changes: object) -> dict[str, object]:
    body = {"grant_type": "client_credential", "appid": fake.app_id, "secret": fake.app_secret}
    return {**body, **changes}


@pytest.mark.parametrize(
    ("changes", "errcode"),
    [({"appid": "wx_other"}, 40013), ({"secret": "bad"}, 40125), ({"grant_type": "x"}, 40002)],
)
async def test_stable_token_checks_credentials(
    fake: FakeWeChat, client: httpx.AsyncClient, changes: dict[str, str], errcode: int
) -> None:
    answer = await client.post("/cgi-bin/stable_token", json=stable(fake, **changes))
    assert answer.status_code == 200  # WeChat reports errors inside a 200
    assert answer.json()["errcode"] == errcode


async def test_stable_token_is_stable_until_near_expiry(
    fake: FakeWeChat, client: httpx.AsyncClient
) -> None:
    first = (await client.post("/cgi-bin/stable_token", json=stable(fake))).json()
    assert first["expires_in"] == 7200
    fake.advance(1000)
    again = (await client.post("/cgi-bin/stable_token", json=stable(fake))).json()
    assert again["access_token"] == first["access_token"]
    assert again["expires_in"] == 6200
    fake.advance(6000)  # 200 s left: inside the 5-minute renewal
    renewed = (await client.post("/cgi-bin/stable_token", json=stable(fake))).json()
    assert renewed["access_token"] != first["access_token"]


async def test_classic_token_replaces_the_previous_one(
    fake: FakeWeChat, client: httpx.AsyncClient
) -> None:
    params = {"grant_type": "client_credential", "appid": fake.app_id, "secret": fake.app_secret}
    old = (await client.get("/cgi-bin/token", params=params)).json()["access_token"]
    new = (await client.get("/cgi-bin/token", params=params)).json()["access_token"]
    assert old != new
    body = {"touser": "o1", "msgtype": "text", "text": {"content": "hi"}}
    ok = await client.post("/cgi-bin/message/custom/send", params={"access_token": old}, json=body)
    assert ok.json()["errcode"] == 0  # still inside the 5-minute overlap
    fake.advance(301)
    late = await client.post(
        "/cgi-bin/message/custom/send", params={"access_token": old}, json=body
    )
    assert late.json()["errcode"] == 42001
    missing = await client.post("/cgi-bin/message/custom/send", json=body)
    assert missing.json()["errcode"] == 41001


def test_build_push_signs_like_wechat(config: WeChatConfig) -> None:
    xml = message_xml("oUser", Content="hi", msg_id=1, create_time=2)
    query, body = build_push(config, xml, timestamp="1409304348", nonce="xxxxxx")
    assert body == xml.encode()
    token = config.token.get_secret_value()
    assert query == {
        "signature": crypto.sign(token, "1409304348", "xxxxxx"),
        "timestamp": "1409304348",
        "nonce": "xxxxxx",
        "openid": "oUser",
    }
    query, body = build_push(config, xml, encrypt=True, timestamp="1", nonce="2")
    outer = parse_xml(body)
    assert set(outer) == {"ToUserName", "Encrypt"}
    assert query["msg_signature"] == crypto.sign(token, "1", "2", outer["Encrypt"])
    key = config.aes_key_bytes()
    assert key is not None
    assert crypto.decrypt(outer["Encrypt"], key, config.app_id) == xml.encode()


def test_message_xml_escapes_cdata_terminators() -> None:
    xml = message_xml("oUser", Content="a]]>b", msg_id=1, create_time=2)
    assert parse_xml(xml.encode())["Content"] == "a]]>b"
