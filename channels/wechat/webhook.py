"""The WeChat push endpoint: URL verification (GET) and message pushes (POST).

Pure: verify, decrypt, parse, decide the answer. No I/O. The order follows
`channels.md` Appendix A: plain signature first, then (encrypt_type=aes) the
outer XML, msg_signature over Encrypt, decryption, the AppID check, the inner XML.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from channels.base import (
    BadSignature,
    MalformedPayload,
    PlatformNotice,
    WebhookRequest,
    WebhookResult,
)
from channels.wechat.config import WeChatConfig
from channels.wechat.parser import parse_message
from channels.weixin import crypto
from channels.weixin.xmlbody import MAX_BODY_BYTES, parse_xml

# Library codes that mean "not from WeChat for this account" -> 403; the rest -> 400 (§1.4).
FORBIDDEN_CODES = {crypto.VALIDATE_SIGNATURE_ERROR, crypto.VALIDATE_APPID_ERROR}

# WeChat does nothing and does not retry on this body (§1.3). It is also what we send in
# safe mode: the brief records a plain "success" as accepted there, and the contract
# (§4) fixes the answer to `success`. An encrypted reply is only needed to carry a
# passive reply message, which Huiliu never sends: it answers through the
# customer-service API instead (§1.3 "Suggested flow"), so there is nothing to encrypt.
SUCCESS = b"success"

# Pushes signed further than this from our clock are refused: WeChat retries a push for
# about 15 s (§1.3), so 5 minutes leaves room for clock skew while a captured signature
# stops working soon. Within the window the product refuses a reused (timestamp, nonce)
# with another body (WebhookResult.replay_key).
PUSH_WINDOW_SECONDS = 300


def handle(config: WeChatConfig, request: WebhookRequest) -> WebhookResult:
    """Verify and parse one request; raise BadSignature (403) or MalformedPayload (400)."""
    method = request.method.upper()
    if method == "GET":
        return _verify_url(config, request.query)
    if method == "POST":
        return _receive(config, request)
    raise MalformedPayload(f"method {method} not allowed")


def _required(query: Mapping[str, str], *names: str) -> list[str]:
    values = [query.get(name) for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise BadSignature(f"missing {', '.join(missing)}")
    return [value or "" for value in values]


def _check_plain_signature(config: WeChatConfig, query: Mapping[str, str]) -> tuple[str, str]:
    signature, timestamp, nonce = _required(query, "signature", "timestamp", "nonce")
    # Hash the decoded query values as strings; never cast the timestamp (§1.6).
    if not crypto.signature_matches(signature, config.token.get_secret_value(), timestamp, nonce):
        raise BadSignature("signature mismatch")
    return timestamp, nonce


def _verify_url(config: WeChatConfig, query: Mapping[str, str]) -> WebhookResult:
    # The Official Account GET check is plaintext even in safe mode (§1.1).
    (echostr,) = _required(query, "echostr")
    _check_plain_signature(config, query)
    return WebhookResult(body=echostr.encode("utf-8"), media_type="text/plain")


def _check_window(timestamp: str, received_at: float | None) -> None:
    """Refuse a push signed more than PUSH_WINDOW_SECONDS away from now (a replay)."""
    now = time.time() if received_at is None else received_at
    try:
        signed_at = int(timestamp)
    except ValueError as exc:
        raise BadSignature("timestamp is not a number") from exc
    if abs(now - signed_at) > PUSH_WINDOW_SECONDS:
        raise BadSignature(f"timestamp outside the {PUSH_WINDOW_SECONDS} s push window")


def _receive(config: WeChatConfig, request: WebhookRequest) -> WebhookResult:
    query, body = request.query, request.body
    timestamp, nonce = _check_plain_signature(config, query)
    _check_window(timestamp, request.received_at)
    if len(body) > MAX_BODY_BYTES:
        raise MalformedPayload("body too large")
    # Decide the mode from the query, never by sniffing the body (§1.4).
    encrypt_type = query.get("encrypt_type", "raw") or "raw"
    if encrypt_type == "raw":
        if config.aes_key is not None and not config.accept_plaintext:
            # The plain signature covers timestamp and nonce, not the body: on a channel
            # set up for safe mode a plaintext push is a forgery, unless an admin opted in.
            raise BadSignature("plaintext push refused: this channel takes encrypted pushes")
        inner = body
    elif encrypt_type == "aes":
        inner = _decrypt(config, query, body, timestamp, nonce)
    else:
        raise MalformedPayload(f"unknown encrypt_type {encrypt_type!r}")
    parsed = parse_message(inner)
    replay_key = f"{timestamp}:{nonce}"[:128]
    if isinstance(parsed, PlatformNotice):
        # About the account, not a conversation: the channel's log keeps it (events.py).
        return WebhookResult(
            body=SUCCESS, media_type="text/plain", notices=[parsed], replay_key=replay_key
        )
    return WebhookResult(
        body=SUCCESS, media_type="text/plain", messages=[parsed], replay_key=replay_key
    )


def _decrypt(
    config: WeChatConfig, query: Mapping[str, str], body: bytes, timestamp: str, nonce: str
) -> bytes:
    (msg_signature,) = _required(query, "msg_signature")
    key = config.aes_key_bytes()
    if key is None:
        raise MalformedPayload("encrypted push but the channel has no EncodingAESKey")
    encrypted = parse_xml(body).get("Encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise MalformedPayload("no <Encrypt> in an encrypted push")
    token = config.token.get_secret_value()
    if not crypto.signature_matches(msg_signature, token, timestamp, nonce, encrypted):
        raise BadSignature("msg_signature mismatch")
    try:
        return crypto.decrypt(encrypted, key, config.app_id)
    except crypto.CryptoError as exc:
        if exc.code in FORBIDDEN_CODES:
            raise BadSignature(exc.detail) from exc
        raise MalformedPayload(exc.detail) from exc
