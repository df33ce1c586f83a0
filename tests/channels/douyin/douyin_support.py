"""Shared helpers for the Douyin connector tests (imported by the test modules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from channels.base import WebhookRequest
from channels.douyin.config import DouyinConfig
from channels.douyin.signature import sign

FIXTURES = Path(__file__).parent / "fixtures"

# The secret of the brief's derived signature example (§4.1).
SECRET = "test_client_secret"
CUSTOMER = "aaa-ae9b-4dbf-add1-bf67e4093fab"
ACCOUNT = "aaa-7ae0-4399-914a-5eb1df5861ba"
CONVERSATION = (
    "@9Vxc1/yDU8sqaS+gN4koEc7912foPPiLPZVyrQmgKVQabPH460zdRmYqig357zEBMaXjKvvhvwY02ISB7llsWQ=="
)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def config(**overrides: Any) -> DouyinConfig:
    values: dict[str, Any] = {
        "client_key": "asdfavetgbvasf",
        "client_secret": SECRET,
        "open_id": ACCOUNT,
        "access_token": "act.pasted",
        "refresh_token": "rft.pasted",
    }
    values.update(overrides)
    return DouyinConfig(**values)


def signed(
    body: bytes,
    *,
    secret: str = SECRET,
    msg_id: str | None = "msg-id-header-1",
    method: str = "POST",
    signature: str | None = None,
) -> WebhookRequest:
    """A request as the webhook route hands it over (header names lower-cased)."""
    headers = {
        "content-type": "application/json",
        "x-douyin-signature": sign(secret, body) if signature is None else signature,
    }
    if msg_id is not None:
        headers["msg-id"] = msg_id
    return WebhookRequest(method=method, query={}, headers=headers, body=body)


def from_wire(headers: dict[str, str], body: bytes) -> WebhookRequest:
    """Turn a `build_event` result into what the route would pass on."""
    return WebhookRequest(
        method="POST", query={}, headers={k.lower(): v for k, v in headers.items()}, body=body
    )


class MemoryState:
    """An in-memory ChannelState that hands out copies, like a database would."""

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(initial or {})
        self.saves = 0

    async def load(self) -> dict[str, Any]:
        return dict(self.data)

    async def save(self, state: dict[str, Any]) -> None:
        self.saves += 1
        self.data = dict(state)
