"""Helpers for the WeChat connector tests: fixtures on disk, an in-memory ChannelState."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from channels.base import ChannelContext

FIXTURES = Path(__file__).parent / "fixtures"
API_BASE = "http://api.weixin.fake"
# Builds a ChannelContext on the fake API; keyword arguments override its fields.
MakeCtx = Callable[..., ChannelContext]
OPENID = "oia2TjjewbmiOUlr6X-1crbLOvLw"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def vectors() -> dict[str, Any]:
    return json.loads((FIXTURES / "vectors.json").read_text(encoding="utf-8"))


class MemoryState:
    """An in-memory ChannelState that hands out copies, like a database would."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.saves = 0

    async def load(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.data))

    async def save(self, state: dict[str, Any]) -> None:
        self.data = json.loads(json.dumps(state))
        self.saves += 1
