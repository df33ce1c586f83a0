"""Channel type -> connector. A plain dict: adding a channel adds one line here."""

from __future__ import annotations

from channels.base import Connector
from channels.douyin import connector as douyin
from channels.webchat import connector as webchat
from channels.wechat import connector as wechat
from channels.wecom import connector as wecom

CONNECTORS: dict[str, Connector] = {
    "wechat": wechat,
    "douyin": douyin,
    "webchat": webchat,
    "wecom": wecom,
}


def get(channel_type: str) -> Connector | None:
    return CONNECTORS.get(channel_type)
