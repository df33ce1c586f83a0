"""The shared WeChat corpus: 84 real push bodies from wechatpy's and WeRoBot's test suites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from channels.base import InboundMessage

# A copy of ../shared/wechat_corpus.json (sources and licences inside).
CORPUS_PATH = Path(__file__).parent / "fixtures" / "wechat_corpus.json"


def samples() -> list[dict[str, Any]]:
    return list(json.loads(CORPUS_PATH.read_text(encoding="utf-8"))["samples"])


def check_expect(message: InboundMessage, expect: dict[str, Any]) -> None:
    """The key content the corpus says must be found in the stored message."""
    extra = message.extra
    for key, wanted in expect.items():
        if key == "content":
            assert message.text == wanted
        elif key == "media":
            found = {m.ref for m in message.media} | {str(extra.get("pic_url", ""))}
            assert set(wanted) <= found, (wanted, found)
        elif key == "label":
            assert extra["label"] == wanted and wanted in message.text
        elif key == "coordinates":
            assert [extra["latitude"], extra["longitude"]] == wanted
        elif key in ("title", "url"):
            assert extra[key] == wanted
        elif key == "recognition":
            assert message.text == wanted
        else:
            raise AssertionError(f"unknown expectation {key}")
