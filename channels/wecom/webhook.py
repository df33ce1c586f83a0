"""The WeCom callback: URL verification (GET) and the `kf_msg_or_event` notice (POST).

Pure: verify, decrypt, parse; no I/O. The crypto is WeChat's (one implementation,
`channels.weixin.crypto`); only the receive id differs: the CorpID (channels.md §3).
Unlike the Official Account, the GET is signed with `msg_signature` over the
*encrypted* `echostr`, and the answer is its decrypted plaintext (official vector TV4).
A notice carries no message: only a `Token` that lets us pull `kf/sync_msg` (§3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from channels.base import BadSignature, MalformedPayload, WebhookRequest
from channels.wecom.config import WeComConfig
from channels.weixin import crypto
from channels.weixin.xmlbody import MAX_BODY_BYTES, parse_xml

# Library codes that mean "not from WeCom for this corp" -> 403; the rest -> 400 (§1.4).
FORBIDDEN_CODES = {crypto.VALIDATE_SIGNATURE_ERROR, crypto.VALIDATE_APPID_ERROR}
NOTICE_EVENT = "kf_msg_or_event"
# The notice's Token is at most 128 bytes, open_kfid is short (§3 "Pull").
MAX_TOKEN_BYTES = 128


@dataclass(frozen=True)
class Notice:
    """A decrypted `kf_msg_or_event` notice: pull sync_msg for `open_kfid` with `token`."""

    token: str
    open_kfid: str
    create_time: str


def _required(query: Mapping[str, str], *names: str) -> list[str]:
    values = [query.get(name) or "" for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise BadSignature(f"missing {', '.join(missing)}")
    return values


def _open(config: WeComConfig, query: Mapping[str, str], encrypted: str) -> bytes:
    """Check msg_signature over [token, timestamp, nonce, encrypted], decrypt, check CorpID."""
    signature, timestamp, nonce = _required(query, "msg_signature", "timestamp", "nonce")
    token = config.token.get_secret_value()
    # Hash the decoded query values as strings; never cast the timestamp (§1.6).
    if not crypto.signature_matches(signature, token, timestamp, nonce, encrypted):
        raise BadSignature("msg_signature mismatch")
    try:
        return crypto.decrypt(encrypted, config.aes_key_bytes(), config.corp_id)
    except crypto.CryptoError as exc:
        if exc.code in FORBIDDEN_CODES:
            raise BadSignature(exc.detail) from exc
        raise MalformedPayload(exc.detail) from exc


def verify_url(config: WeComConfig, query: Mapping[str, str]) -> bytes:
    """The GET check: the decrypted echostr, to be answered as is (TV4)."""
    (echostr,) = _required(query, "echostr")
    return _open(config, query, echostr)


def read_notice(config: WeComConfig, request: WebhookRequest) -> Notice:
    """The POST: always encrypted (§3); raise BadSignature (403) or MalformedPayload (400)."""
    if len(request.body) > MAX_BODY_BYTES:
        raise MalformedPayload("body too large")
    # The signature is checked before the outer XML is trusted for anything but Encrypt.
    _required(request.query, "msg_signature", "timestamp", "nonce")
    encrypted = parse_xml(request.body).get("Encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise MalformedPayload("no <Encrypt> in the notice")
    fields = parse_xml(_open(config, request.query, encrypted))
    if fields.get("Event") != NOTICE_EVENT:
        raise MalformedPayload("not a kf_msg_or_event notice")
    token, open_kfid = fields.get("Token"), fields.get("OpenKfId")
    if not isinstance(token, str) or not token.strip() or not isinstance(open_kfid, str):
        raise MalformedPayload("the notice has no Token or OpenKfId")
    token, open_kfid = token.strip(), open_kfid.strip()
    if len(token.encode("utf-8")) > MAX_TOKEN_BYTES or not open_kfid:
        raise MalformedPayload("bad Token or OpenKfId")
    create_time = fields.get("CreateTime")
    return Notice(token, open_kfid, create_time if isinstance(create_time, str) else "")
