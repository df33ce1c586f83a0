"""GET /widget/{channel_id}.js: the widget script with its channel's settings baked in.

The script is the whole embed: a JSON preamble (channel id, server address, texts,
pre-chat form) and the stylesheet as a string, then frontend/static/widget/widget.js,
all in one closure so `window.Huiliu` is its only global.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.i18n import texts
from app.media.uploads import IMAGE_TYPES, MAX_IMAGE_BYTES
from channels.webchat.config import WebchatConfig
from channels.webchat.frames import MAX_MESSAGE_CHARS

STATIC = Path(__file__).resolve().parents[2] / "frontend" / "static" / "widget"
# The budget: the served script, uncompressed.
MAX_SCRIPT_BYTES = 40 * 1024


@lru_cache(maxsize=4)
def _sources(stamp: tuple[float, float]) -> tuple[str, str]:
    del stamp  # part of the cache key only: an edited file is read again
    js = (STATIC / "widget.js").read_text(encoding="utf-8")
    css = (STATIC / "widget.css").read_text(encoding="utf-8")
    return js, css


def sources() -> tuple[str, str]:
    stamp = ((STATIC / "widget.js").stat().st_mtime, (STATIC / "widget.css").stat().st_mtime)
    return _sources(stamp)


def widget_settings(channel_id: int, name: str, config: WebchatConfig, base: str) -> dict[str, Any]:
    """What the widget needs before its socket is open; nothing secret."""
    return {
        "channel": channel_id,
        "base": base.rstrip("/"),
        "title": config.title or name,
        "greeting": config.greeting,
        "offline": config.offline_message,
        "prechat": config.prechat_form(),
        "color": config.color,
        "maxChars": MAX_MESSAGE_CHARS,
        "maxImage": MAX_IMAGE_BYTES,
        "imageTypes": sorted(IMAGE_TYPES.values()),
        # Both languages: the visitor's browser language picks one (widget.js).
        "texts": {"zh": texts("zh-CN", "widget"), "en": texts("en", "widget")},
    }


def build_script(settings: dict[str, Any]) -> tuple[bytes, str]:
    """The script and its ETag."""
    js, css = sources()
    # ensure_ascii: the preamble is plain ASCII whatever the admin typed.
    body = (
        "/*! Huiliu 汇流 website chat widget */\n"
        "(function (CONFIG, CSS) {\n"
        f"{js}\n"
        f"}})({json.dumps(settings, ensure_ascii=True)}, {json.dumps(css, ensure_ascii=True)});\n"
    ).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
