"""handle_webhook: URL verification and pushes in plain, compatible and safe mode."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import pytest

from channels.base import (
    BadSignature,
    ContentType,
    MalformedPayload,
    WebhookRequest,
    WebhookResult,
)
from channels.wechat import WeChatConfig, connector
from channels.weixin import crypto
from channels.weixin.xmlbody import MAX_BODY_BYTES
from sandbox.wechat.fake import build_push, build_verification, event_xml, message_xml
from tests.channels.wechat.wechat_support import OPENID, fixture_bytes, vectors

TV3 = vectors()["TV3_oa_easywechat_decrypt"]
TV6 = vectors()["TV6_plain_url_signature"]


def call(
    config: WeChatConfig,
    method: str,
    query: Mapping[str, str],
    body: bytes = b"",
    received_at: float | None = None,
) -> WebhookResult:
    request = WebhookRequest(
        method=method, query=query, headers={}, body=body, received_at=received_at
    )
    return connector.handle_webhook(config, request)


@pytest.fixture
def plain(config: WeChatConfig) -> WeChatConfig:
    """A channel in plaintext mode (no EncodingAESKey)."""
    return config.model_copy(update={"aes_key": None})


# --- GET: server URL verification -------------------------------------------------------


def test_get_answers_echostr_for_the_plain_signature_vector() -> None:
    config = WeChatConfig.model_validate(dict(app_id="wx1", app_secret="s", token=TV6["token"]))
    query = {
        "signature": TV6["signature"],
        "timestamp": TV6["timestamp"],
        "nonce": TV6["nonce"],
        "echostr": "5837397520665772461",
    }
    result = call(config, "GET", query)
    assert result.body == b"5837397520665772461"
    assert result.media_type == "text/plain"
    assert result.messages == []


def test_get_is_plaintext_even_with_an_aes_key(config: WeChatConfig) -> None:
    query = build_verification(config, echostr="abc+/=")
    assert call(config, "GET", query).body == b"abc+/="


def test_get_with_a_bad_signature_is_403(config: WeChatConfig) -> None:
    query = build_verification(config, echostr="1")
    query["signature"] = query["signature"][:-1] + ("0" if query["signature"][-1] != "0" else "1")
    with pytest.raises(BadSignature) as caught:
        call(config, "GET", query)
    assert caught.value.status == 403


@pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce", "echostr"])
def test_get_with_a_missing_parameter_is_403(config: WeChatConfig, missing: str) -> None:
    query = build_verification(config, echostr="1")
    del query[missing]
    with pytest.raises(BadSignature):
        call(config, "GET", query)


def test_other_methods_are_refused(config: WeChatConfig) -> None:
    with pytest.raises(MalformedPayload):
        call(config, "PUT", build_verification(config))


# --- POST: plaintext mode ---------------------------------------------------------------


def test_plain_push_is_parsed_and_acknowledged(plain: WeChatConfig) -> None:
    query, body = build_push(plain, fixture_bytes("text.xml"))
    assert "encrypt_type" not in query
    result = call(plain, "POST", query, body)
    assert result.body == b"success"
    assert result.media_type == "text/plain"
    assert result.status == 200
    [msg] = result.messages
    assert msg.external_id == "24368612345678901"
    assert msg.contact.external_id == OPENID
    assert msg.text.startswith("你好")


def test_plain_push_with_a_bad_signature_is_403(plain: WeChatConfig) -> None:
    query, body = build_push(plain, fixture_bytes("text.xml"))
    other = WeChatConfig.model_validate(
        dict(app_id=plain.app_id, app_secret="s", token="another-token")
    )
    with pytest.raises(BadSignature):
        call(other, "POST", query, body)


@pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce"])
def test_plain_push_missing_a_parameter_is_403(plain: WeChatConfig, missing: str) -> None:
    query, body = build_push(plain, fixture_bytes("text.xml"))
    del query[missing]
    with pytest.raises(BadSignature):
        call(plain, "POST", query, body)


def test_a_retried_push_keeps_its_dedupe_key(plain: WeChatConfig) -> None:
    xml = event_xml(OPENID, "subscribe", create_time=1700000000, EventKey="")
    first = call(plain, "POST", *build_push(plain, xml, nonce="1")).messages[0]
    again = call(plain, "POST", *build_push(plain, xml, nonce="2")).messages[0]
    assert first.external_id == again.external_id == f"{OPENID}:1700000000:subscribe"


def test_oversized_body_is_400(plain: WeChatConfig) -> None:
    query, _ = build_push(plain, fixture_bytes("text.xml"))
    with pytest.raises(MalformedPayload) as caught:
        call(plain, "POST", query, b"<xml>" + b" " * MAX_BODY_BYTES + b"</xml>")
    assert caught.value.status == 400


@pytest.mark.parametrize("name", ["billion_laughs.xml", "xxe.xml"])
def test_signed_xml_bombs_are_400(plain: WeChatConfig, name: str) -> None:
    query, _ = build_push(plain, fixture_bytes("text.xml"))
    with pytest.raises(MalformedPayload):
        call(plain, "POST", query, fixture_bytes(name))


def test_signed_malformed_xml_is_400(plain: WeChatConfig) -> None:
    query, _ = build_push(plain, fixture_bytes("text.xml"))
    with pytest.raises(MalformedPayload):
        call(plain, "POST", query, b"<xml><FromUserName>")


def test_unknown_encrypt_type_is_400(plain: WeChatConfig) -> None:
    query, body = build_push(plain, fixture_bytes("text.xml"))
    query["encrypt_type"] = "rsa"
    with pytest.raises(MalformedPayload):
        call(plain, "POST", query, body)


# --- POST: safe and compatible modes ----------------------------------------------------


def test_safe_mode_push_is_decrypted_and_parsed(config: WeChatConfig) -> None:
    xml = message_xml(OPENID, Content="加密的你好", msg_id=99, create_time=1700000000)
    query, body = build_push(config, xml, encrypt=True)
    assert query["encrypt_type"] == "aes"
    assert b"<Encrypt>" in body
    assert "加密的你好".encode() not in body and OPENID.encode() not in body
    result = call(config, "POST", query, body)
    # Answered plain "success", not an encrypted reply (see webhook.SUCCESS).
    assert result.body == b"success"
    [msg] = result.messages
    assert (msg.external_id, msg.text, msg.contact.external_id) == ("99", "加密的你好", OPENID)


def test_compatible_mode_push_is_decrypted(config: WeChatConfig) -> None:
    query, body = build_push(config, fixture_bytes("image.xml"), encrypt=True, compatible=True)
    assert b"<PicUrl>" in body and b"<Encrypt>" in body
    [msg] = call(config, "POST", query, body).messages
    assert msg.content_type is ContentType.IMAGE


def test_official_vector_push_in_safe_mode() -> None:
    config = WeChatConfig.model_validate(
        dict(
            app_id=TV3["appid"],
            app_secret="s",
            token=TV3["token"],
            aes_key=TV3["encoding_aes_key"],
        )
    )
    query = {
        "signature": crypto.sign(TV3["token"], TV3["timestamp"], TV3["nonce"]),
        "timestamp": TV3["timestamp"],
        "nonce": TV3["nonce"],
        "encrypt_type": "aes",
        "msg_signature": TV3["msg_signature"],
    }
    body = (
        "<xml><ToUserName><![CDATA[asdasdasd]]></ToUserName>"
        f"<Encrypt><![CDATA[{TV3['encrypt']}]]></Encrypt></xml>"
    ).encode()
    # The vector's timestamp is from 2014: received then, within the push window.
    [msg] = call(config, "POST", query, body, received_at=int(TV3["timestamp"])).messages
    assert (msg.external_id, msg.text) == ("12345", "hello")
    assert msg.contact.external_id == "asdasdasdsadasd"


def test_safe_mode_with_a_bad_msg_signature_is_403(config: WeChatConfig) -> None:
    query, body = build_push(config, fixture_bytes("text.xml"), encrypt=True)
    query["msg_signature"] = crypto.sign("x", "y", "z")
    with pytest.raises(BadSignature):
        call(config, "POST", query, body)


def test_safe_mode_without_msg_signature_is_403(config: WeChatConfig) -> None:
    query, body = build_push(config, fixture_bytes("text.xml"), encrypt=True)
    del query["msg_signature"]
    with pytest.raises(BadSignature):
        call(config, "POST", query, body)


def test_safe_mode_for_another_appid_is_403(config: WeChatConfig) -> None:
    query, body = build_push(config, fixture_bytes("text.xml"), encrypt=True)
    other = config.model_copy(update={"app_id": "wx_someone_else"})
    with pytest.raises(BadSignature, match="AppID"):
        call(other, "POST", query, body)


def test_safe_mode_with_tampered_ciphertext_is_400(config: WeChatConfig) -> None:
    key = config.aes_key_bytes()
    assert key is not None
    # Correctly signed, but the last ciphertext byte flipped: only decryption can catch
    # it. A fixed random prefix keeps the garbled block (and so the outcome) deterministic.
    data = bytearray(base64.b64decode(crypto.encrypt("<xml/>", key, config.app_id, b"0" * 16)))
    data[-1] ^= 0x01
    tampered = base64.b64encode(bytes(data)).decode()
    query = {"signature": "", "timestamp": "1", "nonce": "2", "encrypt_type": "aes"}
    token = config.token.get_secret_value()
    query["signature"] = crypto.sign(token, "1", "2")
    query["msg_signature"] = crypto.sign(token, "1", "2", tampered)
    body = f"<xml><ToUserName>gh</ToUserName><Encrypt>{tampered}</Encrypt></xml>".encode()
    with pytest.raises(MalformedPayload, match="padding"):
        call(config, "POST", query, body, received_at=1)


def test_safe_mode_without_encrypt_element_is_400(config: WeChatConfig) -> None:
    query, _ = build_push(config, fixture_bytes("text.xml"), encrypt=True)
    with pytest.raises(MalformedPayload):
        call(config, "POST", query, b"<xml><ToUserName>gh</ToUserName></xml>")


def test_encrypted_push_without_a_configured_key_is_400(config: WeChatConfig) -> None:
    query, body = build_push(config, fixture_bytes("text.xml"), encrypt=True)
    plain_only = config.model_copy(update={"aes_key": None})
    with pytest.raises(MalformedPayload, match="EncodingAESKey"):
        call(plain_only, "POST", query, body)


# --- POST: push window, plaintext on a safe-mode channel, replay key ---------------------


@pytest.mark.parametrize(
    ("skew", "accepted"), [(0, True), (-300, True), (300, True), (-301, False), (301, False)]
)
def test_push_window_is_five_minutes(config: WeChatConfig, skew: int, accepted: bool) -> None:
    """A push signed more than 300 s before or after our clock is refused."""
    now = 1_800_000_000
    xml = message_xml(OPENID, Content="hi", msg_id=5)
    query, body = build_push(config, xml, encrypt=True, timestamp=str(now + skew))
    if accepted:
        assert call(config, "POST", query, body, received_at=now).messages
    else:
        with pytest.raises(BadSignature, match="push window"):
            call(config, "POST", query, body, received_at=now)


def test_push_window_defaults_to_the_real_clock(config: WeChatConfig) -> None:
    xml = message_xml(OPENID, Content="hi", msg_id=5)
    query, body = build_push(config, xml, encrypt=True, timestamp="1700000000")
    with pytest.raises(BadSignature, match="push window"):
        call(config, "POST", query, body)


def test_a_non_numeric_timestamp_is_refused(plain: WeChatConfig) -> None:
    query, body = build_push(plain, fixture_bytes("text.xml"), timestamp="soon")
    with pytest.raises(BadSignature, match="timestamp"):
        call(plain, "POST", query, body)


@pytest.mark.parametrize("encrypt_type", [None, "raw", ""])
def test_safe_mode_channel_refuses_plaintext_pushes(
    config: WeChatConfig, encrypt_type: str | None
) -> None:
    """The plain signature does not cover the body: with a key set, plaintext is forgery."""
    query, body = build_push(config, fixture_bytes("text.xml"))
    if encrypt_type is not None:
        query["encrypt_type"] = encrypt_type
    with pytest.raises(BadSignature, match="plaintext push refused"):
        call(config, "POST", query, body)
    switched = config.model_copy(update={"accept_plaintext": True})
    assert call(switched, "POST", query, body).messages


def test_a_push_names_its_signed_one_time_key(config: WeChatConfig) -> None:
    xml = message_xml(OPENID, Content="hi", msg_id=5)
    query, body = build_push(config, xml, encrypt=True, nonce="12345")
    result = call(config, "POST", query, body)
    assert result.replay_key == f"{query['timestamp']}:12345"


# --- describe ---------------------------------------------------------------------------


def test_describe_hints_without_revealing_secrets(config: WeChatConfig) -> None:
    facts = connector.describe(7, config, "https://huiliu.example.com")
    assert facts["token_hint"] == "hu…en"
    assert facts["app_id"] == config.app_id
    # With a key, plaintext pushes are refused unless the admin switches them on.
    assert facts["encryption_modes"] == ["compatible", "safe"]
    switched = config.model_copy(update={"accept_plaintext": True})
    modes = connector.describe(7, switched, "https://huiliu.example.com")["encryption_modes"]
    assert modes == ["plaintext", "compatible", "safe"]
    assert "huiliu-token" not in str(facts)
    assert "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" not in str(facts)
