"""WeChat-family push signatures and AES message encryption (WeChat compatible/safe
mode, and every WeCom callback).

Pure functions over bytes and strings, following `channels.md` section 1.4
(Tencent's WXBizMsgCrypt scheme). Errors carry the official library codes so a
caller can map them to 403 (signature, app id) or 400 (malformed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# The EncodingAESKey is 43 base64 characters; with "=" it decodes to a 32-byte key (§1.4).
ENCODING_AES_KEY_LENGTH = 43
AES_KEY_BYTES = 32
# WeChat pads with PKCS#7 to 32-byte blocks, not AES's 16 (§1.4 "K = 32").
PAD_BLOCK = 32
# FullStr = random(16) || msg_len(4, big-endian) || msg || receive_id (§1.4).
RANDOM_BYTES = 16
HEADER_BYTES = RANDOM_BYTES + 4

# Official WXBizMsgCrypt error codes (§1.4 table); library codes, never sent on the wire.
VALIDATE_SIGNATURE_ERROR = -40001
ILLEGAL_AES_KEY = -40004
VALIDATE_APPID_ERROR = -40005
DECRYPT_AES_ERROR = -40007
ILLEGAL_BUFFER = -40008
DECODE_BASE64_ERROR = -40010


class CryptoError(ValueError):
    """A signature, key or ciphertext that does not hold; `code` is the official one."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{detail} ({code})")
        self.code = code
        self.detail = detail


def sign(*parts: str) -> str:
    """sha1 hex of the lexicographically sorted, concatenated parts (§1.1, §1.4)."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324


def signature_matches(signature: str, *parts: str) -> bool:
    """Constant-time check of a received signature against `sign(*parts)`."""
    expected = sign(*parts)
    return hmac.compare_digest(expected.encode("ascii"), signature.lower().encode("utf-8"))


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from the 43-character EncodingAESKey.

    Decoded leniently on purpose: the key's last character usually has non-zero
    trailing bits, which a canonical base64 decoder would refuse (§1.4).
    """
    if len(encoding_aes_key) != ENCODING_AES_KEY_LENGTH or not encoding_aes_key.isalnum():
        raise CryptoError(ILLEGAL_AES_KEY, "EncodingAESKey must be 43 letters or digits")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise CryptoError(ILLEGAL_AES_KEY, "EncodingAESKey is not base64") from exc
    if len(key) != AES_KEY_BYTES:
        raise CryptoError(ILLEGAL_AES_KEY, "EncodingAESKey does not decode to 32 bytes")
    return key


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    # The IV is not sent: it is the first 16 bytes of the key (§1.4).
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def _pad(data: bytes) -> bytes:
    n = PAD_BLOCK - len(data) % PAD_BLOCK
    return data + bytes([n]) * n


def _unpad(data: bytes) -> bytes:
    # Stricter than the official samples, which strip any last-byte count (§1.4).
    n = data[-1] if data else 0
    if not 1 <= n <= PAD_BLOCK or n > len(data) or data[-n:] != bytes([n]) * n:
        raise CryptoError(DECRYPT_AES_ERROR, "bad PKCS#7 padding")
    return data[:-n]


def encrypt(
    message: str | bytes, key: bytes, receive_id: str, random16: bytes | None = None
) -> str:
    """Encrypt one message as WeChat's `Encrypt` field (base64 text).

    `random16` is fixed only by tests (the official vectors); otherwise random.
    """
    body = message.encode("utf-8") if isinstance(message, str) else message
    prefix = random16 if random16 is not None else os.urandom(RANDOM_BYTES)
    if len(prefix) != RANDOM_BYTES:
        raise ValueError("random16 must be 16 bytes")
    plain = prefix + struct.pack(">I", len(body)) + body + receive_id.encode("utf-8")
    encryptor = _cipher(key).encryptor()
    return base64.b64encode(encryptor.update(_pad(plain)) + encryptor.finalize()).decode("ascii")


def decrypt(encrypted: str, key: bytes, receive_id: str) -> bytes:
    """Decrypt an `Encrypt` field and check it was meant for `receive_id` (the AppID).

    Returns the message bytes (UTF-8 XML for pushes).
    """
    try:
        data = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError(DECODE_BASE64_ERROR, "Encrypt is not base64") from exc
    if not data or len(data) % 16:
        raise CryptoError(DECRYPT_AES_ERROR, "ciphertext is not whole AES blocks")
    decryptor = _cipher(key).decryptor()
    content = _unpad(decryptor.update(data) + decryptor.finalize())
    if len(content) < HEADER_BYTES:
        raise CryptoError(ILLEGAL_BUFFER, "plaintext shorter than its header")
    (length,) = struct.unpack(">I", content[RANDOM_BYTES:HEADER_BYTES])
    if HEADER_BYTES + length > len(content):
        raise CryptoError(ILLEGAL_BUFFER, "msg_len runs past the plaintext")
    message = content[HEADER_BYTES : HEADER_BYTES + length]
    found_id = content[HEADER_BYTES + length :]
    if not hmac.compare_digest(found_id, receive_id.encode("utf-8")):
        raise CryptoError(VALIDATE_APPID_ERROR, "message is for another AppID")
    return message
