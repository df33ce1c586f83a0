"""WeCom 微信客服 (kf) connector: encrypted notices, sync_msg pulls, kf/send_msg replies."""

from channels.wecom.config import WeComConfig
from channels.wecom.connector import WeComConnector

connector = WeComConnector()

__all__ = ["WeComConfig", "WeComConnector", "connector"]
