"""The settings an admin copies from the WeChat Official Account console."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, field_validator

from channels.weixin.config import AccountId, AesKey, Secret
from channels.weixin.crypto import aes_key


class WeChatConfig(BaseModel):
    """One Official Account: API credentials and the push (server) settings."""

    app_id: AccountId
    app_secret: Secret
    # The console's "Token" (令牌): signs every push.
    token: Secret
    # The console's EncodingAESKey; required for compatible and safe modes only.
    aes_key: AesKey | None = None
    # With an aes_key, plaintext pushes (whose signature does not cover the body) are
    # refused; an admin whose console is still in plaintext mode sets this to accept them.
    accept_plaintext: bool = False

    @field_validator("aes_key", mode="before")
    @classmethod
    def _blank_aes_key_is_none(cls, value: Any) -> Any:
        # A blank form field or CLI flag means plaintext mode, not a malformed key.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def aes_key_bytes(self) -> bytes | None:
        """The decoded 32-byte AES key, or None in plaintext mode."""
        return aes_key(self.aes_key.get_secret_value()) if self.aes_key else None
