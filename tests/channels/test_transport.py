"""The connectors' shared HTTP helpers: failure classification, capped reads, config guard."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import BaseModel

from channels.base import DeliveryError
from channels.transport import classify, read_capped, read_stream_capped, typed_config
from channels.wechat.config import WeChatConfig


@pytest.mark.parametrize(
    ("exc", "side_effect", "expected"),
    [
        (httpx.ConnectError("refused"), True, (True, False)),  # never left: retry a send too
        (httpx.ConnectTimeout("slow"), True, (True, False)),
        (httpx.PoolTimeout("busy"), False, (True, False)),
        (httpx.ReadTimeout("lost"), True, (False, True)),  # a send may have landed
        (httpx.ReadTimeout("lost"), False, (True, False)),  # a read: retry
        (httpx.RemoteProtocolError("dropped"), True, (False, True)),
        (httpx.TooManyRedirects("loop"), False, (False, False)),  # will fail again
    ],
)
def test_classify(exc: httpx.HTTPError, side_effect: bool, expected: tuple[bool, bool]) -> None:
    assert classify(exc, side_effect=side_effect) == expected


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def too_large() -> DeliveryError:
    return DeliveryError("too_large")


async def test_capped_read_passes_up_to_the_cap_and_refuses_past_it() -> None:
    assert await read_stream_capped(chunks(b"ab", b"cd"), None, 4, too_large) == b"abcd"
    with pytest.raises(DeliveryError, match="too_large"):
        await read_stream_capped(chunks(b"ab", b"cde"), None, 4, too_large)
    # A declared length over the cap is refused before any byte is read.
    read: list[bytes] = []

    async def watched() -> AsyncIterator[bytes]:
        read.append(b"x")
        yield b"x"

    with pytest.raises(DeliveryError):
        await read_stream_capped(watched(), "5", 4, too_large)
    assert read == []


async def test_capped_read_of_a_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"0123456789")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        async with http.stream("GET", "http://platform.test/media") as response:
            with pytest.raises(DeliveryError):
                await read_capped(response, 9, too_large)
        async with http.stream("GET", "http://platform.test/media") as response:
            assert await read_capped(response, 10, too_large) == b"0123456789"


def test_typed_config_refuses_another_model() -> None:
    class Other(BaseModel):
        app_id: str = "x"

    config = WeChatConfig(app_id="wx1", app_secret="s", token="t")
    assert typed_config(config, WeChatConfig) is config
    with pytest.raises(TypeError, match="expected WeChatConfig, got Other"):
        typed_config(Other(), WeChatConfig)
