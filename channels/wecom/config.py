"""The settings an admin copies from the WeCom admin console (微信客服 → API)."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr, field_validator

from channels.wechat.crypto import CryptoError, aes_key


class WeComConfig(BaseModel):
    """One WeCom corp's 微信客服: the kf secret and the callback (接收事件服务器) settings."""

    corp_id: str
    # The 「微信客服」 secret: only its access token may call the kf API (channels.md §3).
    secret: SecretStr
    # The callback's Token and EncodingAESKey; WeCom notices are always encrypted.
    token: SecretStr
    aes_key: SecretStr
    # The customer-service accounts (open_kfid) served here; empty: every account notified.
    open_kfid: list[str] = []
    # Sent through send_msg_on_event when a customer enters a session with a welcome_code.
    welcome_message: str | None = None

    @field_validator("corp_id")
    @classmethod
    def _corp_id_present(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("corp_id is required")
        return value

    @field_validator("secret", "token")
    @classmethod
    def _secret_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("aes_key")
    @classmethod
    def _aes_key_decodes(cls, value: SecretStr) -> SecretStr:
        try:
            aes_key(value.get_secret_value())
        except CryptoError as exc:
            # 43 characters decoding to 32 bytes, else official error -40004 (§1.4).
            raise ValueError(exc.detail) from exc
        return value

    @field_validator("open_kfid")
    @classmethod
    def _kfids_clean(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value if v.strip()]
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("an open_kfid is listed twice")
        return cleaned

    def aes_key_bytes(self) -> bytes:
        return aes_key(self.aes_key.get_secret_value())

    def serves(self, open_kfid: str) -> bool:
        return not self.open_kfid or open_kfid in self.open_kfid
