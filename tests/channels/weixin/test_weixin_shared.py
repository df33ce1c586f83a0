"""The pieces WeChat and WeCom share (channels/weixin): one implementation, each
platform's own table and names."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from channels.wechat import WeChatConfig
from channels.wechat import errors as wechat_errors
from channels.wecom import WeComConfig
from channels.wecom import errors as wecom_errors
from channels.weixin.config import hint

WECHAT = wechat_errors.PLATFORM
WECOM = wecom_errors.PLATFORM
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def test_40001_is_a_token_error_on_wechat_and_a_bad_secret_on_wecom() -> None:
    wechat = WECHAT.errcode_error(40001, "invalid credential")
    wecom = WECOM.errcode_error(40001, "invalid secret")
    assert isinstance(wechat, wechat_errors.WeChatError) and wechat.retryable
    assert wechat.reason.startswith("token_rejected:")
    assert isinstance(wecom, wecom_errors.WeComError) and not wecom.retryable
    assert wecom.reason.startswith("invalid_secret:") and wecom.errcode == 40001


def test_shared_codes_and_unknown_codes_name_the_platform() -> None:
    for platform in (WECHAT, WECOM):
        assert platform.errcode_error(44004, "").reason.startswith("empty_content:")
    assert "WeChat API error" in WECHAT.errcode_error(99999, "x").reason
    assert "WeCom API error" in WECOM.errcode_error(99999, "x").reason
    assert "企业微信" in WECOM.status_error(502).reason
    assert WECOM.status_error(502).retryable
    assert not WECHAT.status_error(404).retryable


def test_a_send_lost_after_it_left_is_uncertain_a_refused_connect_is_retryable() -> None:
    lost = WECHAT.transport_error(httpx.ReadTimeout("t"), request_may_have_landed=True)
    refused = WECOM.transport_error(httpx.ConnectError("c"), request_may_have_landed=True)
    assert lost.uncertain and not lost.retryable
    assert refused.retryable and not refused.uncertain and "WeCom" in refused.reason


@pytest.mark.parametrize("blank", ["", "   "])
def test_both_configs_refuse_a_blank_account_id_or_secret(blank: str) -> None:
    with pytest.raises(ValidationError, match="app_id is required"):
        WeChatConfig(app_id=blank, app_secret="s", token="t")
    with pytest.raises(ValidationError, match="corp_id is required"):
        WeComConfig(corp_id=blank, secret="s", token="t", aes_key=AES_KEY)
    with pytest.raises(ValidationError, match="must not be empty"):
        WeChatConfig(app_id="wx1", app_secret=blank, token="t")
    with pytest.raises(ValidationError, match="must not be empty"):
        WeComConfig(corp_id="ww1", secret="s", token=blank, aes_key=AES_KEY)


def test_both_configs_check_the_aes_key_and_strip_the_account_id() -> None:
    with pytest.raises(ValidationError):
        WeComConfig(corp_id="ww1", secret="s", token="t", aes_key="short")
    with pytest.raises(ValidationError):
        WeChatConfig(app_id="wx1", app_secret="s", token="t", aes_key="short")
    assert WeChatConfig(app_id=" wx1 ", app_secret="s", token="t", aes_key="").aes_key is None
    assert WeComConfig(corp_id=" ww1 ", secret="s", token="t", aes_key=AES_KEY).corp_id == "ww1"


def test_hint_shows_two_characters_each_end_of_a_long_secret_only() -> None:
    assert hint(SecretStr("abcdefgh")) == "ab…gh"
    assert hint(SecretStr("short")) == "…"
