"""Field guards for the settings both WeChat-family consoles hand an admin."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, SecretStr, ValidationInfo

from channels.weixin.crypto import CryptoError, aes_key


def _present(value: str, info: ValidationInfo) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{info.field_name} is required")
    return value


def _secret_present(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("must not be empty")
    return value


def _aes_key_decodes(value: SecretStr) -> SecretStr:
    try:
        aes_key(value.get_secret_value())
    except CryptoError as exc:
        # 43 characters decoding to 32 bytes, else official error -40004 (§1.4).
        raise ValueError(exc.detail) from exc
    return value


# An account id (AppID, CorpID): required, surrounding blanks dropped.
AccountId = Annotated[str, AfterValidator(_present)]
# A secret or the callback's Token: required.
Secret = Annotated[SecretStr, AfterValidator(_secret_present)]
# The callback's EncodingAESKey: 43 characters that decode to a 32-byte key.
AesKey = Annotated[SecretStr, AfterValidator(_aes_key_decodes)]


def hint(secret: SecretStr) -> str:
    """Enough of a secret for an admin to recognise it, not to reuse it."""
    value = secret.get_secret_value()
    return f"{value[:2]}…{value[-2:]}" if len(value) >= 8 else "…"
