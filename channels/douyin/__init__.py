"""Douyin (抖音) open-platform private messages. `connector` is what the registry holds."""

from channels.douyin.config import DouyinConfig
from channels.douyin.connector import DouyinConnector

connector = DouyinConnector()

__all__ = ["DouyinConfig", "DouyinConnector", "connector"]
