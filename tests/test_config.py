"""Platform API hosts: one setting per channel type, the connector's default otherwise."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.connectors import api_base_for
from channels import registry


def test_api_bases_come_from_each_types_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUILIU_WECHAT_API_BASE", "http://wechat.fake")
    monkeypatch.setenv("HUILIU_WECOM_API_BASE", "http://wecom.fake")
    monkeypatch.setenv("HUILIU_DOUYIN_API_BASE", "")  # empty: the default
    settings = Settings()
    assert settings.api_bases == {"wechat": "http://wechat.fake", "wecom": "http://wecom.fake"}
    assert api_base_for(settings, "wechat") == "http://wechat.fake"
    assert api_base_for(settings, "douyin") == "https://open.douyin.com"


def test_every_connector_declares_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUILIU_WECHAT_API_BASE", "HUILIU_DOUYIN_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert api_base_for(settings, "wechat") == "https://api.weixin.qq.com"
    assert api_base_for(settings, "webchat") == ""  # no platform API at all
    for connector in registry.CONNECTORS.values():
        assert isinstance(connector.default_api_base, str)


def test_arguments_and_copies_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUILIU_WECHAT_API_BASE", raising=False)
    settings = Settings(douyin_api_base="http://douyin.fake")  # the old keyword still works
    assert settings.api_base("douyin") == "http://douyin.fake"
    copy = settings.with_api_bases(wechat="http://other.fake")
    assert copy.api_bases["wechat"] == "http://other.fake"
    assert copy.api_bases["douyin"] == "http://douyin.fake"
    assert "wechat" not in settings.api_bases
