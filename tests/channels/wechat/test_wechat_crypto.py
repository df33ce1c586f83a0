"""Signatures and AES message crypto against the official vectors (channels.md §1.5)."""

from __future__ import annotations

import base64
import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pydantic import ValidationError

from channels.wechat import WeChatConfig
from channels.weixin import crypto
from tests.channels.wechat.wechat_support import vectors

V = vectors()
TV2 = V["TV2_oa_official_java_sample_deterministic"]
TV3 = V["TV3_oa_easywechat_decrypt"]
TV4 = V["TV4_wecom_official_sample"]
TV6 = V["TV6_plain_url_signature"]


def raw_encrypt(key: bytes, plain: bytes) -> str:
    """AES-CBC with no padding at all, to forge bodies the real encoder never makes."""
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def raw_decrypt(key: bytes, encrypted: str) -> bytes:
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    return dec.update(base64.b64decode(encrypted)) + dec.finalize()


@pytest.mark.parametrize("encoding_key", sorted(V["key_derivation"]))
def test_key_derivation(encoding_key: str) -> None:
    expected = V["key_derivation"][encoding_key]
    key = crypto.aes_key(encoding_key)
    assert key.hex() == expected["aes_key_hex"]
    assert key[:16].hex() == expected["iv_hex"]


def test_plain_url_signature_vector() -> None:
    assert crypto.sign(TV6["token"], TV6["timestamp"], TV6["nonce"]) == TV6["signature"]
    assert crypto.signature_matches(TV6["signature"], TV6["token"], TV6["timestamp"], TV6["nonce"])


def test_flipped_signature_character_fails() -> None:
    sig = TV6["signature"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    assert not crypto.signature_matches(flipped, TV6["token"], TV6["timestamp"], TV6["nonce"])
    assert not crypto.signature_matches("", TV6["token"], TV6["timestamp"], TV6["nonce"])
    assert not crypto.signature_matches("签名", TV6["token"], TV6["timestamp"], TV6["nonce"])


@pytest.mark.parametrize("case", ["case1", "case2"])
def test_official_deterministic_encrypt(case: str) -> None:
    key = crypto.aes_key(TV2["encoding_aes_key"])
    vector = TV2[case]
    encrypted = crypto.encrypt(vector["plaintext"], key, TV2["appid"], TV2["random16"].encode())
    assert encrypted == vector["encrypt"]
    signature = crypto.sign(TV2["token"], TV2["timestamp"], TV2["nonce"], encrypted)
    assert signature == vector["msg_signature_derived"]
    assert crypto.decrypt(encrypted, key, TV2["appid"]).decode() == vector["plaintext"]


def test_msg_len_counts_utf8_bytes() -> None:
    key = crypto.aes_key(TV2["encoding_aes_key"])
    plain = raw_decrypt(key, TV2["case1"]["encrypt"])
    assert plain[:16] == b"aaaabbbbccccdddd"
    # "我是中文abcd123": 4 Chinese characters of 3 bytes + 7 ASCII = 19 (§1.4).
    assert struct.unpack(">I", plain[16:20]) == (19,)


def test_easywechat_decrypt_vector() -> None:
    parts = (TV3["token"], TV3["timestamp"], TV3["nonce"], TV3["encrypt"])
    assert crypto.signature_matches(TV3["msg_signature"], *parts)
    key = crypto.aes_key(TV3["encoding_aes_key"])
    assert crypto.decrypt(TV3["encrypt"], key, TV3["appid"]).decode() == TV3["expected_plaintext"]
    assert raw_decrypt(key, TV3["encrypt"])[-1] == TV3["pkcs7_pad_len"]


def test_wecom_official_sample_vectors() -> None:
    key = crypto.aes_key(TV4["encoding_aes_key"])
    check = TV4["verify_url"]
    parts = (TV4["token"], check["timestamp"], check["nonce"], check["echostr"])
    assert crypto.signature_matches(check["msg_signature"], *parts)
    reply = crypto.decrypt(check["echostr"], key, TV4["receive_id"])
    assert reply.decode() == check["expected_reply"]
    msg = TV4["decrypt_msg"]
    assert crypto.signature_matches(
        msg["msg_signature"], TV4["token"], msg["timestamp"], msg["nonce"], msg["encrypt"]
    )
    plain = crypto.decrypt(msg["encrypt"], key, TV4["receive_id"])
    assert plain.decode() == msg["expected_plaintext"]


def test_random_round_trip_uses_fresh_randomness() -> None:
    key = crypto.aes_key(TV2["encoding_aes_key"])
    first = crypto.encrypt("<xml>你好</xml>", key, "wx1")
    second = crypto.encrypt("<xml>你好</xml>", key, "wx1")
    assert first != second
    assert crypto.decrypt(first, key, "wx1") == crypto.decrypt(second, key, "wx1")
    assert crypto.decrypt(first, key, "wx1").decode() == "<xml>你好</xml>"
    # Padded to whole 32-byte blocks, not AES's 16.
    assert len(base64.b64decode(first)) % 32 == 0


def test_wrong_appid_is_refused() -> None:
    key = crypto.aes_key(TV3["encoding_aes_key"])
    with pytest.raises(crypto.CryptoError) as caught:
        crypto.decrypt(TV3["encrypt"], key, "wxb11529c136998cb7")
    assert caught.value.code == crypto.VALIDATE_APPID_ERROR


def test_tampered_ciphertext_is_refused() -> None:
    key = crypto.aes_key(TV3["encoding_aes_key"])
    data = bytearray(base64.b64decode(TV3["encrypt"]))
    # CBC: flipping ciphertext byte 0 flips plaintext byte 16, the top byte of msg_len.
    data[0] ^= 0x01
    with pytest.raises(crypto.CryptoError) as caught:
        crypto.decrypt(base64.b64encode(bytes(data)).decode(), key, TV3["appid"])
    assert caught.value.code == crypto.ILLEGAL_BUFFER
    # Flipping the last byte garbles the final block and with it the padding.
    data = bytearray(base64.b64decode(TV3["encrypt"]))
    data[-1] ^= 0x01
    with pytest.raises(crypto.CryptoError) as caught:
        crypto.decrypt(base64.b64encode(bytes(data)).decode(), key, TV3["appid"])
    assert caught.value.code == crypto.DECRYPT_AES_ERROR


def _framed(message: bytes, appid: bytes, length: int | None = None) -> bytes:
    size = len(message) if length is None else length
    return os.urandom(16) + struct.pack(">I", size) + message + appid


@pytest.mark.parametrize("pad", [0, 33])
def test_pad_byte_out_of_range_is_refused(pad: int) -> None:
    key = crypto.aes_key(TV2["encoding_aes_key"])
    body = _framed(b"<xml/>", b"wx1")
    body += b"\x00" * (-(len(body) + 1) % 32) + bytes([pad])
    with pytest.raises(crypto.CryptoError) as caught:
        crypto.decrypt(raw_encrypt(key, body), key, "wx1")
    assert caught.value.code == crypto.DECRYPT_AES_ERROR


def test_inconsistent_padding_is_refused() -> None:
    key = crypto.aes_key(TV2["encoding_aes_key"])
    body = _framed(b"<xml/>", b"wx1")
    n = 32 - len(body) % 32
    body += bytes([n - 1]) + bytes([n]) * (n - 1)
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(raw_encrypt(key, body), key, "wx1")


def test_msg_len_past_the_buffer_is_refused() -> None:
    key = crypto.aes_key(TV2["encoding_aes_key"])
    body = _framed(b"<xml/>", b"wx1", length=1000)
    n = 32 - len(body) % 32
    body += bytes([n]) * n
    with pytest.raises(crypto.CryptoError) as caught:
        crypto.decrypt(raw_encrypt(key, body), key, "wx1")
    assert caught.value.code == crypto.ILLEGAL_BUFFER


@pytest.mark.parametrize(
    ("encrypted", "code"),
    [
        ("not base64!!", crypto.DECODE_BASE64_ERROR),
        (base64.b64encode(b"x" * 20).decode(), crypto.DECRYPT_AES_ERROR),
        ("", crypto.DECRYPT_AES_ERROR),
    ],
)
def test_garbage_ciphertext_is_refused(encrypted: str, code: int) -> None:
    key = crypto.aes_key(TV2["encoding_aes_key"])
    with pytest.raises(crypto.CryptoError) as caught:
        crypto.decrypt(encrypted, key, "wx1")
    assert caught.value.code == code


@pytest.mark.parametrize(
    "bad_key",
    [
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",  # 42
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",  # 44
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF+",  # not alphanumeric
    ],
)
def test_bad_encoding_aes_key_is_a_config_error(bad_key: str) -> None:
    with pytest.raises(crypto.CryptoError) as caught:
        crypto.aes_key(bad_key)
    assert caught.value.code == crypto.ILLEGAL_AES_KEY
    with pytest.raises(ValidationError):
        WeChatConfig.model_validate(dict(app_id="wx1", app_secret="s", token="t", aes_key=bad_key))


def test_blank_aes_key_means_plaintext_mode() -> None:
    config = WeChatConfig.model_validate(dict(app_id="wx1", app_secret="s", token="t", aes_key=""))
    assert config.aes_key is None
    assert config.aes_key_bytes() is None
