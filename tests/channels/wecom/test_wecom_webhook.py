"""The WeCom callback on Tencent's official sample (TV4) and built notices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels.base import BadSignature, MalformedPayload, PullRequest, WebhookRequest
from channels.wecom import WeComConfig, connector, webhook
from channels.weixin import crypto

VECTORS = json.loads(
    (Path(__file__).parent.parent / "wechat" / "fixtures" / "vectors.json").read_text()
)
TV4 = VECTORS["TV4_wecom_official_sample"]


def tv4_config(**overrides: object) -> WeComConfig:
    values = {
        "corp_id": TV4["receive_id"],
        "secret": "kf-secret",
        "token": TV4["token"],
        "aes_key": TV4["encoding_aes_key"],
        **overrides,
    }
    return WeComConfig.model_validate(values)


def get(query: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(method="GET", query=query, headers={}, body=b"")


def test_url_verification_answers_the_decrypted_echostr() -> None:
    v = TV4["verify_url"]
    query = {k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    result = connector.handle_webhook(tv4_config(), get(query))
    assert result.status == 200
    assert result.body == v["expected_reply"].encode()
    assert result.messages == []


@pytest.mark.parametrize("field", ["msg_signature", "timestamp", "nonce", "echostr"])
def test_url_verification_refuses_a_changed_or_missing_field(field: str) -> None:
    v = TV4["verify_url"]
    query = {k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    changed = dict(query, **{field: query[field][:-1] + ("0" if query[field][-1] != "0" else "1")})
    with pytest.raises(BadSignature):
        connector.handle_webhook(tv4_config(), get(changed))
    del query[field]
    with pytest.raises(BadSignature):
        connector.handle_webhook(tv4_config(), get(query))


def test_url_verification_for_another_corp_is_forbidden() -> None:
    v = TV4["verify_url"]
    query = {k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    with pytest.raises(BadSignature):
        connector.handle_webhook(tv4_config(corp_id="ww-someone-else"), get(query))


def test_the_official_message_decrypts_with_the_corp_id() -> None:
    d = TV4["decrypt_msg"]
    query = {k: d[k] for k in ("msg_signature", "timestamp", "nonce")}
    plain = webhook._open(tv4_config(), query, d["encrypt"])
    assert plain.decode() == d["expected_plaintext"]
    # That sample is an agent message, not a kf notice: refused, never stored.
    request = WebhookRequest("POST", query, {}, d["post_body"].encode())
    with pytest.raises(MalformedPayload):
        connector.handle_webhook(tv4_config(), request)


NOTICE = (
    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><CreateTime>1348831860</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
    "<Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token>"
    "<OpenKfId><![CDATA[wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q]]></OpenKfId></xml>"
)


def notice_request(
    config: WeComConfig, *, receive_id: str | None = None, inner: str | None = None
) -> WebhookRequest:
    key = config.aes_key_bytes()
    plain = inner if inner is not None else NOTICE.format(corp=config.corp_id)
    encrypted = crypto.encrypt(plain, key, receive_id or config.corp_id)
    token = config.token.get_secret_value()
    signature = crypto.sign(token, "1409659813", "1372623149", encrypted)
    body = (
        f"<xml><ToUserName><![CDATA[{config.corp_id}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
    )
    query = {"msg_signature": signature, "timestamp": "1409659813", "nonce": "1372623149"}
    return WebhookRequest("POST", query, {}, body.encode())


def test_a_notice_is_answered_success_and_names_the_pull() -> None:
    config = tv4_config()
    request = notice_request(config)
    result = connector.handle_webhook(config, request)
    assert (result.status, result.body, result.messages) == (200, b"success", [])
    assert result.pull == PullRequest(
        key="wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q",
        token="ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR",
    )
    served = tv4_config(open_kfid=["wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q"])
    assert connector.handle_webhook(served, request).pull == result.pull


def test_a_notice_for_an_account_not_served_is_acknowledged_but_not_pulled() -> None:
    config = tv4_config(open_kfid=["wk-other"])
    result = connector.handle_webhook(config, notice_request(config))
    assert (result.body, result.pull) == (b"success", None)


def test_a_notice_encrypted_for_another_corp_is_forbidden() -> None:
    config = tv4_config()
    with pytest.raises(BadSignature):
        connector.handle_webhook(config, notice_request(config, receive_id="ww-other-corp"))


def test_a_notice_with_a_bad_signature_is_forbidden() -> None:
    config = tv4_config()
    request = notice_request(config)
    forged = dict(request.query, msg_signature="0" * 40)
    with pytest.raises(BadSignature):
        connector.handle_webhook(config, WebhookRequest("POST", forged, {}, request.body))


@pytest.mark.parametrize(
    "body", [b"<xml><Encrypt>", b"not xml", b"<xml><ToUserName>x</ToUserName></xml>"]
)
def test_a_malformed_notice_is_a_400(body: bytes) -> None:
    config = tv4_config()
    query = dict(notice_request(config).query)
    with pytest.raises(MalformedPayload):
        connector.handle_webhook(config, WebhookRequest("POST", query, {}, body))


def test_a_decrypted_body_that_is_not_a_notice_is_a_400() -> None:
    config = tv4_config()
    inner = "<xml><Event><![CDATA[kf_msg_or_event]]></Event></xml>"  # no Token
    with pytest.raises(MalformedPayload):
        connector.handle_webhook(config, notice_request(config, inner=inner))
    with pytest.raises(MalformedPayload):
        connector.handle_webhook(config, notice_request(config, inner="<xml><a></xml>"))


@pytest.mark.parametrize("key", ["short", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2", ""])
def test_a_bad_aes_key_is_refused_at_config_time(key: str) -> None:
    with pytest.raises(ValueError, match="aes_key"):
        tv4_config(aes_key=key)
