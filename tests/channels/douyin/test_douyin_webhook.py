"""The webhook edge: method, size, signature (challenge included), JSON, challenge answer."""

from __future__ import annotations

import json

import pytest

from channels.base import BadSignature, MalformedPayload, WebhookRequest
from channels.douyin import connector
from channels.douyin.events import MAX_BODY_BYTES
from channels.douyin.signature import is_valid, sign
from tests.channels.douyin.douyin_support import SECRET, config, fixture, signed


def test_signature_matches_the_briefs_derived_vector() -> None:
    body = fixture("verify_webhook.json")
    assert body == b'{"event":"verify_webhook","client_key":"abc","content":{"challenge":12345}}'
    assert sign(SECRET, body) == "ed6b1797456b888e29a8fcc49521ba7e1993f7bc"


def test_signature_check_is_case_insensitive_and_exact() -> None:
    body = fixture("verify_webhook.json")
    good = "ed6b1797456b888e29a8fcc49521ba7e1993f7bc"
    assert is_valid(SECRET, body, good.upper())
    assert is_valid(SECRET, body, f" {good} ")
    assert not is_valid(SECRET, body + b" ", good)
    assert not is_valid("other_secret", body, good)
    assert not is_valid(SECRET, body, "")
    assert not is_valid(SECRET, body, None)
    assert not is_valid(SECRET, body, "非ascii")


def test_challenge_is_answered_as_json_number() -> None:
    result = connector.handle_webhook(config(), signed(fixture("verify_webhook.json")))
    assert result.status == 200
    assert result.media_type == "application/json"
    assert json.loads(result.body) == {"challenge": 12345}
    assert result.messages == []


def test_big_challenge_keeps_every_digit() -> None:
    body = b'{"event":"verify_webhook","client_key":"","content":{"challenge":1234567890123456789}}'
    result = connector.handle_webhook(config(), signed(body))
    assert result.body == b'{"challenge": 1234567890123456789}'


def test_challenge_with_content_as_string() -> None:
    body = json.dumps({"event": "verify_webhook", "content": '{"challenge": 42}'}).encode()
    assert json.loads(connector.handle_webhook(config(), signed(body)).body) == {"challenge": 42}


@pytest.mark.parametrize("signature", ["", "0" * 40, sign("wrong-secret", b"x")])
def test_challenge_with_bad_signature_is_refused(signature: str) -> None:
    request = signed(fixture("verify_webhook.json"), signature=signature)
    with pytest.raises(BadSignature) as err:
        connector.handle_webhook(config(), request)
    assert err.value.status == 403


def test_challenge_without_signature_header_is_refused() -> None:
    body = fixture("verify_webhook.json")
    request = WebhookRequest(method="POST", query={}, headers={}, body=body)
    with pytest.raises(BadSignature):
        connector.handle_webhook(config(), request)


def test_event_signed_with_another_secret_is_refused() -> None:
    request = signed(fixture("im_receive_msg_text_string.json"), secret="not-the-secret")
    with pytest.raises(BadSignature):
        connector.handle_webhook(config(), request)


def test_tampered_body_is_refused() -> None:
    body = fixture("im_receive_msg_text_string.json")
    request = signed(body, signature=sign(SECRET, body))
    tampered = WebhookRequest(
        method="POST", query={}, headers=request.headers, body=body.replace("捷途".encode(), b"XX")
    )
    with pytest.raises(BadSignature):
        connector.handle_webhook(config(), tampered)


def test_mixed_case_header_names_are_accepted() -> None:
    body = fixture("verify_webhook.json")
    request = WebhookRequest(
        method="POST", query={}, headers={"X-Douyin-Signature": sign(SECRET, body)}, body=body
    )
    assert json.loads(connector.handle_webhook(config(), request).body) == {"challenge": 12345}


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_only_post(method: str) -> None:
    with pytest.raises(MalformedPayload):
        connector.handle_webhook(config(), signed(fixture("verify_webhook.json"), method=method))


def test_oversized_body_is_refused_even_when_signed() -> None:
    padding = "x" * MAX_BODY_BYTES
    body = json.dumps({"event": "im_receive_msg", "content": {"text": padding}}).encode()
    with pytest.raises(MalformedPayload) as err:
        connector.handle_webhook(config(), signed(body))
    assert err.value.status == 400
    assert "64" in err.value.detail or str(MAX_BODY_BYTES) in err.value.detail


def test_body_at_the_cap_is_accepted() -> None:
    head = b'{"event":"verify_webhook","content":{"challenge":1},"pad":"'
    body = head + b"x" * (MAX_BODY_BYTES - len(head) - 2) + b'"}'
    assert len(body) == MAX_BODY_BYTES
    assert connector.handle_webhook(config(), signed(body)).status == 200


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"text"',
        b'{"client_key": "abc"}',
        b'{"event": ""}',
        b'{"event": "verify_webhook", "content": {}}',
        b'{"event": "im_receive_msg", "from_user_id": "u", "content": "{broken"}',
        b'{"event": "im_receive_msg", "from_user_id": "u", "content": "[1]"}',
        b'{"event": "im_receive_msg", "from_user_id": "", "content": {"message_type": "text"}}',
    ],
)
def test_malformed_signed_bodies_are_400(body: bytes) -> None:
    with pytest.raises(MalformedPayload) as err:
        connector.handle_webhook(config(), signed(body))
    assert err.value.status == 400


def test_events_are_acknowledged_with_200() -> None:
    result = connector.handle_webhook(config(), signed(fixture("im_receive_msg_text_string.json")))
    assert result.status == 200
    assert result.body == b"success"
    assert len(result.messages) == 1
