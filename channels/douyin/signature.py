"""The webhook signature: `X-Douyin-Signature = sha1_hex(client_secret + raw_body)`.

Brief §4.1 [doc "Webhooks 概述"] [sdk SKIT `VerifyEventSignature`]. It covers the
exact bytes received, so it is checked before the body is parsed.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(client_secret: str, body: bytes) -> str:
    """The lower-case hex signature Douyin sends for `body`."""
    # sha1 is the platform's choice, used for authenticity of a shared-secret MAC here.
    return hashlib.sha1(client_secret.encode("utf-8") + body, usedforsecurity=False).hexdigest()


def is_valid(client_secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check; the hex may arrive in either case (brief §4.1)."""
    if not header or not client_secret:
        return False
    given = header.strip().lower().encode("ascii", "replace")
    return hmac.compare_digest(sign(client_secret, body).encode("ascii"), given)
