"""Signed values the widget carries: the visitor token, identify() HMACs, media links.

All HMAC-SHA256, compared in constant time. The visitor token is signed with a key
the product derives from its own secret (so rotating a channel's identity secret
does not make visitors lose their history); identify() uses the channel's identity
secret, which the site's backend shares.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "v1"
# A visitor who comes back within a year keeps their history (Chatwoot's cookie lasts
# 365 days too); the widget gets a fresh token on every connect, so only a year of
# absence forgets them.
TOKEN_MAX_AGE = 365 * 24 * 3600
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# What a site may use as its user id: printable, no spaces, short enough for an index.
_USER_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_HEX_HMAC = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class VisitorToken:
    channel_id: int
    visitor_id: str  # one per browser
    user_id: str | None  # the site's user id, only once identify() verified it
    issued_at: int  # unix seconds

    @property
    def external_id(self) -> str:
        """The contact identity this visitor writes as: verified users share one across devices."""
        return f"user:{self.user_id}" if self.user_id else f"visitor:{self.visitor_id}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_visitor_id() -> str:
    return secrets.token_urlsafe(16)


def valid_user_id(user_id: object) -> bool:
    return isinstance(user_id, str) and bool(_USER_ID.match(user_id))


def _sign(key: bytes, message: str) -> str:
    return _b64(hmac.new(key, message.encode(), hashlib.sha256).digest())


def issue_token(key: bytes, token: VisitorToken) -> str:
    payload = {"c": token.channel_id, "v": token.visitor_id, "t": token.issued_at}
    if token.user_id:
        payload["u"] = token.user_id
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{TOKEN_PREFIX}.{body}.{_sign(key, f'{TOKEN_PREFIX}.{body}')}"


def verify_token(
    key: bytes, raw: object, channel_id: int, now: int, max_age: int = TOKEN_MAX_AGE
) -> VisitorToken | None:
    """The token's contents when it is ours, for this channel, and not expired; else None."""
    if not isinstance(raw, str) or len(raw) > 1000:
        return None
    parts = raw.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    expected = _sign(key, f"{parts[0]}.{parts[1]}")
    if not hmac.compare_digest(expected.encode(), parts[2].encode()):
        return None
    try:
        payload = json.loads(_unb64(parts[1]))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(payload, dict):
        return None
    c, v, t, u = payload.get("c"), payload.get("v"), payload.get("t"), payload.get("u")
    if c != channel_id or not isinstance(v, str) or not _VISITOR_ID.match(v):
        return None
    if type(t) is not int or t > now + 300 or now - t > max_age:  # 5 min of clock skew
        return None
    if u is not None and not valid_user_id(u):
        return None
    return VisitorToken(channel_id=c, visitor_id=v, user_id=u, issued_at=t)


def identity_hmac(secret: str, user_id: str) -> str:
    """hex HMAC-SHA256(secret, user id): what the site's backend computes (CONTRACT 7)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def identity_verified(secret: str, user_id: object, claimed: object) -> bool:
    """A claimed user id counts only with the right HMAC; anything else is ignored."""
    if not valid_user_id(user_id) or not isinstance(claimed, str) or not _HEX_HMAC.match(claimed):
        return False
    assert isinstance(user_id, str)
    return hmac.compare_digest(identity_hmac(secret, user_id), claimed.lower())


def media_signature(key: bytes, channel_id: int, message_id: int, index: int, expires: int) -> str:
    """A link to one attachment that only the visitor who was shown it holds; an <img>
    cannot send the visitor token, and the token must not travel in URLs."""
    return _sign(key, f"media:{channel_id}:{message_id}:{index}:{expires}")


def media_signature_valid(
    key: bytes, channel_id: int, message_id: int, index: int, expires: int, sig: str, now: int
) -> bool:
    if expires < now:
        return False
    expected = media_signature(key, channel_id, message_id, index, expires)
    return hmac.compare_digest(expected.encode(), sig.encode())
