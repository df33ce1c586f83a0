"""WeChat Official Account (公众号 / 服务号) connector."""

from channels.wechat.config import WeChatConfig
from channels.wechat.connector import WeChatConnector

connector = WeChatConnector()

__all__ = ["WeChatConfig", "WeChatConnector", "connector"]
