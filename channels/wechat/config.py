"""The settings an admin copies from the WeChat Official Account console."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr, field_validator

from channels.wechat.crypto import CryptoError, aes_key


class WeChatConfig(BaseModel):
    """One Official Account: API credentials and the push (server) settings."""

    app_id: str
    app_secret: SecretStr
    # The console's "Token" (令牌): signs every push.
    token: SecretStr
    # The console's EncodingAESKey; required for compatible and safe modes only.
    aes_key: SecretStr | None = None
    # With an aes_key, plaintext pushes (whose signature does not cover the body) are
    # refused; an admin whose console is still in plaintext mode sets this to accept them.
    accept_plaintext: bool = False

    @field_validator("app_id")
    @classmethod
    def _app_id_present(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("app_id is required")
        return value

    @field_validator("app_secret", "token")
    @classmethod
    def _secret_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("aes_key", mode="before")
    @classmethod
    def _blank_aes_key_is_none(cls, value: Any) -> Any:
        # A blank form field or CLI flag means plaintext mode, not a malformed key.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("aes_key")
    @classmethod
    def _aes_key_decodes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                aes_key(value.get_secret_value())
            except CryptoError as exc:
                # 43 characters decoding to 32 bytes, else official error -40004 (§1.4).
                raise ValueError(exc.detail) from exc
        return value

    def aes_key_bytes(self) -> bytes | None:
        """The decoded 32-byte AES key, or None in plaintext mode."""
        return aes_key(self.aes_key.get_secret_value()) if self.aes_key else None
