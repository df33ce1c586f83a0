"""The settings an admin copies from the WeCom admin console (微信客服 → API)."""

from __future__ import annotations

from pydantic import BaseModel, field_validator

from channels.weixin.config import AccountId, AesKey, Secret
from channels.weixin.crypto import aes_key


class WeComConfig(BaseModel):
    """One WeCom corp's 微信客服: the kf secret and the callback (接收事件服务器) settings."""

    corp_id: AccountId
    # The 「微信客服」 secret: only its access token may call the kf API (channels.md §3).
    secret: Secret
    # The callback's Token and EncodingAESKey; WeCom notices are always encrypted.
    token: Secret
    aes_key: AesKey
    # The customer-service accounts (open_kfid) served here; empty: every account notified.
    open_kfid: list[str] = []
    # Sent through send_msg_on_event when a customer enters a session with a welcome_code.
    welcome_message: str | None = None

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
