"""Message content both WeChat-family parsers build alike, whatever the wire (XML
pushes for WeChat, sync_msg JSON for WeCom): the keyword arguments of an
`InboundMessage`'s content."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels.base import ContentType


def link(title: str, description: str, url: str, **more: str) -> dict[str, Any]:
    """A shared link (图文链接): its title is the text shown."""
    extra = {"title": title, "description": description, "url": url, **more}
    return {"content_type": ContentType.LINK, "text": title, "extra": extra}


def unsupported(msg_type: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A message type this version does not map: acknowledged and kept, raw."""
    return {
        "content_type": ContentType.UNSUPPORTED,
        "text": f"[暂不支持的消息类型：{msg_type}]",
        "extra": {"platform_type": msg_type, "raw": dict(raw)},
    }
