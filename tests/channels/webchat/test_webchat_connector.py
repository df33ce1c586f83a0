"""The webchat connector with no database and no network: tokens, identify() HMACs,
origins, frame validation, config, and the connector's own answers."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from pydantic import ValidationError

from channels.base import (
    ChannelContext,
    ContentType,
    DeliveryError,
    MalformedPayload,
    OutboundMessage,
    SendResult,
    WebhookRequest,
)
from channels.webchat import WebchatConfig, connector
from channels.webchat.frames import (
    MAX_MESSAGE_CHARS,
    FrameError,
    Hello,
    Identify,
    Prechat,
    Send,
    Typing,
    parse_frame,
)
from channels.webchat.origins import normalize_origin, origin_allowed, origin_of_url
from channels.webchat.tokens import (
    VisitorToken,
    identity_hmac,
    identity_verified,
    issue_token,
    media_signature,
    media_signature_valid,
    verify_token,
)

KEY = b"k" * 32
NOW = 1_800_000_000


def test_identify_hmac_matches_the_derived_example() -> None:
    # channels.md 6.1: HMAC_SHA256("FyQwqNPxcUwiBWX8bNLf1vbJ", "user-123"), hex.
    expected = "13484da6e2674d3d0e8cbe64947622c9ba936f2bae3d9c5e0852396e52b3852d"
    assert identity_hmac("FyQwqNPxcUwiBWX8bNLf1vbJ", "user-123") == expected
    assert identity_verified("FyQwqNPxcUwiBWX8bNLf1vbJ", "user-123", expected.upper())
    for user_id, claimed in [
        ("user-124", expected),  # another user
        ("user-123", expected[:-1] + "0"),  # one nibble off
        ("user-123", ""),
        ("user-123", None),
        (123, expected),  # not a string
        ("has space", identity_hmac("FyQwqNPxcUwiBWX8bNLf1vbJ", "has space")),  # not an id
    ]:
        assert not identity_verified("FyQwqNPxcUwiBWX8bNLf1vbJ", user_id, claimed)


def test_visitor_tokens_round_trip_and_refuse_tampering() -> None:
    token = VisitorToken(7, "abcdefghijklmnop0123", "u-1", NOW)
    raw = issue_token(KEY, token)
    assert verify_token(KEY, raw, 7, NOW + 60) == token
    assert token.external_id == "user:u-1"
    assert VisitorToken(7, "abcdefghijklmnop0123", None, NOW).external_id.startswith("visitor:")
    prefix, body, sig = raw.split(".")
    forged_body = json.dumps({"c": 7, "v": "abcdefghijklmnop0123", "t": NOW, "u": "admin"})
    import base64

    forged = base64.urlsafe_b64encode(forged_body.encode()).decode().rstrip("=")
    assert verify_token(KEY, f"{prefix}.{forged}.{sig}", 7, NOW) is None
    assert verify_token(b"x" * 32, raw, 7, NOW) is None  # another server's key
    assert verify_token(KEY, raw, 8, NOW) is None  # another channel
    assert verify_token(KEY, raw, 7, NOW + 366 * 86400) is None  # expired
    assert verify_token(KEY, raw, 7, NOW - 3600) is None  # from the future
    for junk in (None, "", "v1.a.b", "v2." + raw[3:], raw + "x", 42, "x" * 2000):
        assert verify_token(KEY, junk, 7, NOW) is None


def test_media_signatures_bind_message_index_and_expiry() -> None:
    sig = media_signature(KEY, 1, 10, 0, NOW + 100)
    assert media_signature_valid(KEY, 1, 10, 0, NOW + 100, sig, NOW)
    assert not media_signature_valid(KEY, 1, 11, 0, NOW + 100, sig, NOW)
    assert not media_signature_valid(KEY, 1, 10, 1, NOW + 100, sig, NOW)
    assert not media_signature_valid(KEY, 2, 10, 0, NOW + 100, sig, NOW)
    assert not media_signature_valid(KEY, 1, 10, 0, NOW + 101, sig, NOW)
    assert not media_signature_valid(KEY, 1, 10, 0, NOW + 100, sig, NOW + 101)


def test_origins() -> None:
    assert normalize_origin("HTTPS://Shop.Example.com:443/") == "https://shop.example.com"
    assert normalize_origin("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    for bad in ("shop.example.com", "ftp://x.com", "https://x.com/path", "https://*.com", "*"):
        assert normalize_origin(bad, allow_wildcard=True) is None, bad
    assert normalize_origin("https://*.example.com") is None  # wildcards only in config
    assert origin_of_url("https://a.example.com/page?q=1#x") == "https://a.example.com"
    allowed = ["https://shop.example.com", "https://*.example.cn"]
    assert origin_allowed(allowed, "https://shop.example.com")
    assert origin_allowed(allowed, "https://m.example.cn")
    assert origin_allowed(allowed, "https://a.b.example.cn")
    for refused in (
        "https://example.cn",
        "http://m.example.cn",
        "https://evilexample.cn",
        "https://shop.example.com.evil.net",
        "https://shop.example.com:8443",
        None,
        "null",
    ):
        assert not origin_allowed(allowed, refused), refused
    assert origin_allowed([], None)  # no list: any site


def test_frames_are_validated() -> None:
    assert parse_frame('{"type":"message","echo_id":"abcdEFGH_-12","text":" 你好\\u0000 "}') == (
        Send("abcdEFGH_-12", "你好")
    )
    hello = parse_frame(
        json.dumps(
            {
                "type": "hello",
                "token": "t",
                "last_message_id": 5,
                "identify": {"id": "u1", "hmac": "ab", "name": "小明"},
            }
        )
    )
    assert isinstance(hello, Hello) and hello.last_message_id == 5
    assert isinstance(hello.identify, Identify) and hello.identify.profile.name == "小明"
    assert parse_frame('{"type":"typing","typing":true}') == Typing(True)
    assert parse_frame('{"type":"typing","typing":"yes"}') == Typing(False)
    prechat = parse_frame('{"type":"prechat","fields":{"email":"a@b.cn","phone":"+86 138"}}')
    assert isinstance(prechat, Prechat) and prechat.profile.email == "a@b.cn"
    too_long = json.dumps(
        {"type": "message", "echo_id": "e" * 8, "text": "x" * (MAX_MESSAGE_CHARS + 1)}
    )
    cases = {
        "not json": 400,
        "[]": 400,
        '{"type":"nope"}': 400,
        '{"type":"message","echo_id":"short","text":"x"}': 400,
        '{"type":"message","echo_id":"abcdefgh","text":"   "}': 400,
        '{"type":"message","echo_id":"abcdefgh","text":7}': 400,
        '{"type":"seen","message_id":-1}': 400,
        '{"type":"seen","message_id":true}': 400,
        '{"type":"prechat","fields":{"email":"nope"}}': 400,
        '{"type":"prechat","fields":{"phone":"call me"}}': 400,
        too_long: 413,
        "x" * 40_000: 413,
    }
    for raw, code in cases.items():
        with pytest.raises(FrameError) as err:
            parse_frame(raw)
        assert err.value.code == code, raw[:60]
    with pytest.raises(FrameError) as err:
        parse_frame(too_long)
    assert err.value.echo_id == "e" * 8  # the widget can stop resending it


def test_config_defaults_and_validation() -> None:
    a, b = WebchatConfig(), WebchatConfig()
    secret = a.identity_secret.get_secret_value()
    assert len(secret) == 64 and secret != b.identity_secret.get_secret_value()
    cfg = WebchatConfig(
        allowed_origin=["https://Shop.example.com/"], prechat_field=["name!", "email"]
    )
    assert cfg.allowed_origin == ["https://shop.example.com"]
    assert cfg.prechat_form() == [
        {"name": "name", "required": True},
        {"name": "email", "required": False},
    ]
    for bad in (
        {"allowed_origin": ["shop.example.com"]},
        {"prechat_field": ["age"]},
        {"prechat_field": ["name", "name!"]},
        {"identity_secret": "short"},
        {"color": "red"},
    ):
        with pytest.raises(ValidationError):
            WebchatConfig.model_validate(bad)


def test_connector_answers() -> None:
    cfg = WebchatConfig(identity_secret="s" * 32)
    with pytest.raises(MalformedPayload):
        connector.handle_webhook(cfg, WebhookRequest("POST", {}, {}, b"{}"))
    described = connector.describe(5, cfg, "https://huiliu.example.com/")
    assert described["embed_snippet"] == (
        '<script src="https://huiliu.example.com/widget/5.js" async></script>'
    )
    assert described["identity_secret"] == "s" * 32
    assert connector.reply_window is None
    assert ContentType.IMAGE in connector.capabilities.media_replies

    async def send(content_type: ContentType) -> SendResult:
        async with httpx.AsyncClient() as http:
            ctx = ChannelContext(5, cfg, http, "", state=None)  # type: ignore[arg-type]
            msg = OutboundMessage("k", "visitor:x", content_type, "hi")
            return await connector.send(ctx, msg)

    assert asyncio.run(send(ContentType.TEXT)) == SendResult()
    with pytest.raises(DeliveryError):
        asyncio.run(send(ContentType.VOICE))
