"""The fake WeChat API itself: token endpoints and push building behave like WeChat."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from channels.wechat import WeChatConfig
from channels.weixin import crypto
from channels.weixin.xmlbody import parse_xml
from sandbox.wechat.fake import FakeWeChat, build_push, message_xml


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


async def token_of(fake: FakeWeChat, client: httpx.AsyncClient) -> str:
    answer = await client.post("/cgi-bin/stable_token", json=stable(fake))
    return str(answer.json()["access_token"])


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.mark.parametrize(
    ("kind", "name", "size", "errcode"),
    [
        ("image", "a.png", 10, 0),
        ("image", "a.JPG", 2 * 1024 * 1024, 0),
        ("image", "a.png", 2 * 1024 * 1024 + 1, 40009),
        ("image", "a.webp", 10, 40005),
        ("image", "noextension", 10, 40005),
        ("image", "a.png", 0, 41005),
        ("thumb", "t.jpg", 64 * 1024 + 1, 40006),
        ("voice", "v.amr", 10, 0),
        ("video", "v.mp4", 10, 0),
        ("sticker", "a.png", 10, 40004),
    ],
)
async def test_media_upload_enforces_type_and_size(
    fake: FakeWeChat, client: httpx.AsyncClient, kind: str, name: str, size: int, errcode: int
) -> None:
    params = {"access_token": await token_of(fake, client), "type": kind}
    files = {"media": (name, b"\1" * size, "application/octet-stream")}
    answer = (await client.post("/cgi-bin/media/upload", params=params, files=files)).json()
    assert answer.get("errcode", 0) == errcode
    assert fake.uploads[-1]["errcode"] == errcode
    if errcode == 0:
        assert answer["type"] == kind
        assert answer["media_id"] == fake.uploads[-1]["media_id"]
        assert isinstance(answer["created_at"], int)


async def test_media_upload_needs_a_token_and_a_media_field(
    fake: FakeWeChat, client: httpx.AsyncClient
) -> None:
    files = {"media": ("a.png", PNG, "image/png")}
    missing = await client.post("/cgi-bin/media/upload", params={"type": "image"}, files=files)
    assert missing.json()["errcode"] == 41001
    bad = {"access_token": "nope", "type": "image"}
    assert (await client.post("/cgi-bin/media/upload", params=bad, files=files)).json()[
        "errcode"
    ] == 40001
    params = {"access_token": await token_of(fake, client), "type": "image"}
    other = {"file": ("a.png", PNG, "image/png")}
    answer = await client.post("/cgi-bin/media/upload", params=params, files=other)
    assert answer.json()["errcode"] == 41005
    not_multipart = await client.post("/cgi-bin/media/upload", params=params, content=PNG)
    assert not_multipart.json()["errcode"] == 41005
    assert all("media_id" not in u for u in fake.uploads)


async def test_custom_send_takes_only_media_ids_it_issued(
    fake: FakeWeChat, client: httpx.AsyncClient
) -> None:
    token = await token_of(fake, client)
    files = {"media": ("a.png", PNG, "image/png")}
    upload = await client.post(
        "/cgi-bin/media/upload", params={"access_token": token, "type": "image"}, files=files
    )
    media_id = upload.json()["media_id"]

    async def send(msgtype: str, mid: str) -> int:
        body = {"touser": "o1", "msgtype": msgtype, msgtype: {"media_id": mid}}
        answer = await client.post(
            "/cgi-bin/message/custom/send", params={"access_token": token}, json=body
        )
        return int(answer.json()["errcode"])

    assert await send("image", "MADE_UP") == 40007
    assert await send("voice", media_id) == 40007  # an image is not a voice
    assert await send("image", media_id) == 0
    assert fake.sent == [{"touser": "o1", "msgtype": "image", "image": {"media_id": media_id}}]
    fake.advance(3 * 24 * 3600 + 1)
    token = await token_of(fake, client)
    assert await send("image", media_id) == 40007  # temporary media last 3 days


async def test_custom_typing_checks_token_command_and_window(
    fake: FakeWeChat, client: httpx.AsyncClient
) -> None:
    token = await token_of(fake, client)

    async def typing(body: object, access_token: str = token) -> int:
        answer = await client.post(
            "/cgi-bin/message/custom/typing", params={"access_token": access_token}, json=body
        )
        return int(answer.json()["errcode"])

    assert await typing({"touser": "o1", "command": "Typing"}) == 0
    assert await typing({"touser": "o1", "command": "CancelTyping"}) == 0
    assert await typing({"touser": "o1", "command": "Dancing"}) == 47001
    assert await typing({"command": "Typing"}) == 40003
    assert await typing({"touser": "o1", "command": "Typing"}, access_token="nope") == 40001
    fake.customer_wrote("o1")
    fake.advance(48 * 3600 + 1)
    fresh = await token_of(fake, client)
    assert await typing({"touser": "o1", "command": "Typing"}, access_token=fresh) == 45015
    assert [c["errcode"] for c in fake.typing_calls] == [0, 0, 47001, 40003, 40001, 45015]
    assert fake.sent == []
