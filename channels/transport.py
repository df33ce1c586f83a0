"""HTTP helpers every connector shares: one way to classify a failed call, one capped
read, one guard for the channel config a connector is handed."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from typing import TypeVar

import httpx
from pydantic import BaseModel

# Failures before the request left this host: the platform cannot have acted on it. A
# failed write (the connection reset before the request was written whole) counts too:
# a platform never acts on half a request.
NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def classify(exc: httpx.HTTPError, *, side_effect: bool) -> tuple[bool, bool]:
    """(retryable, uncertain) for a call that raised `exc`.

    Not sent (connect failed): retry. Sent, then lost (read timeout, dropped
    connection): retry a call without side effects; a send may have been delivered, so
    it is uncertain. Anything else httpx raises (a bad URL, too many redirects) is
    neither: it will fail again the same way.
    """
    if isinstance(exc, NOT_SENT):
        return True, False
    if isinstance(exc, httpx.TransportError):
        return (False, True) if side_effect else (True, False)
    return False, False


def retryable_status(status: int) -> bool:
    """429 and 5xx are transient by HTTP's own definition; other 4xx will not improve."""
    return status == 429 or status >= 500


async def read_capped(
    response: httpx.Response, max_bytes: int, too_large: Callable[[], Exception]
) -> bytes:
    """The body of a streamed response, refused (`too_large()`) once past `max_bytes`."""
    return await read_stream_capped(
        response.aiter_bytes(), response.headers.get("content-length"), max_bytes, too_large
    )


async def read_stream_capped(
    stream: AsyncIterable[bytes],
    declared: str | None,
    max_bytes: int,
    too_large: Callable[[], Exception],
) -> bytes:
    """Read `stream` whole, refusing it once past `max_bytes` (or when the declared
    Content-Length already is): the memory one body may take stays bounded."""
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > max_bytes:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def typed_config(config: BaseModel, model: type[ConfigT]) -> ConfigT:
    """The channel config as the connector's own model (the product validated it)."""
    if not isinstance(config, model):
        raise TypeError(f"expected {model.__name__}, got {type(config).__name__}")
    return config
