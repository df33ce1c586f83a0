"""The guarded media fetcher against real loopback servers: what it refuses and what it caps."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from channels import netguard
from channels.base import DeliveryError
from tests.support.server import running


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.100.100.200", False),  # Alibaba Cloud metadata (shared address space)
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("203.0.113.5", False),  # documentation range, reserved
        ("8.8.8.8", True),
        ("101.226.90.58", True),
        ("2400:da00::6666", True),
    ],
)
def test_public_address(address: str, public: bool) -> None:
    assert netguard.public_address(address) is public


@pytest.fixture
async def internal() -> Any:
    """A loopback 'internal service' that records every request it gets."""
    hits: list[str] = []

    async def anything(request: Request) -> Response:
        hits.append(request.url.path)
        if request.url.path.startswith("/hop/"):
            return RedirectResponse(request.query_params["to"], status_code=302)
        if request.url.path == "/loop":
            return RedirectResponse("/loop", status_code=307)
        if request.url.path == "/big":
            return Response(b"x" * 5000, media_type="image/png")
        return Response(b"secret", media_type="image/png")

    app = Starlette(routes=[Route("/{path:path}", anything)])
    async with running(app) as host:
        yield host, hits


async def _fetch(url: str, base: str, **kw: Any) -> netguard.Fetched:
    async with httpx.AsyncClient(timeout=5) as http:
        kw.setdefault("allowed_suffixes", ("qq.com",))
        kw.setdefault("max_bytes", 1000)
        return await netguard.fetch(http, url, trusted_base=base, **kw)


async def test_loopback_url_outside_the_api_base_is_not_requested(internal: Any) -> None:
    host, hits = internal
    for url in (f"http://{host}/meta", f"https://{host}/meta", "http://169.254.169.254/x"):
        with pytest.raises(netguard.MediaRefused):
            await _fetch(url, "https://api.weixin.qq.com")
    assert hits == []


async def test_allowlisted_name_resolving_to_loopback_is_refused(internal: Any) -> None:
    """Checked after DNS resolution: `localhost` stands for a CDN name pointed inward."""
    host, hits = internal
    port = host.split(":")[1]
    with pytest.raises(netguard.MediaRefused, match="non-public"):
        await _fetch(
            f"https://localhost:{port}/x",
            "https://api.weixin.qq.com",
            allowed_suffixes=("localhost",),
        )
    assert hits == []


async def test_the_configured_api_base_is_trusted(internal: Any) -> None:
    host, hits = internal
    got = await _fetch(f"http://{host}/media", f"http://{host}")
    assert (got.status_code, got.content) == (200, b"secret")
    assert hits == ["/media"]


async def test_each_redirect_is_checked(internal: Any) -> None:
    """The trusted API base redirecting to an internal address is refused at that hop."""
    host, hits = internal
    with pytest.raises(netguard.MediaRefused, match="not on the platform's list"):
        await _fetch(f"http://{host}/hop/1?to=http://10.0.0.1/x", f"http://{host}")
    with pytest.raises(netguard.MediaRefused):
        await _fetch(
            f"http://{host}/hop/1?to=http://127.0.0.2:{host.split(':')[1]}/x", f"http://{host}"
        )
    assert hits == ["/hop/1", "/hop/1"]


async def test_redirect_chain_is_capped(internal: Any) -> None:
    host, hits = internal
    with pytest.raises(netguard.MediaRefused, match="redirects"):
        await _fetch(f"http://{host}/loop", f"http://{host}")
    assert len(hits) == netguard.MAX_REDIRECTS + 1


async def test_size_cap_while_streaming(internal: Any) -> None:
    host, _ = internal
    with pytest.raises(netguard.TooLarge) as caught:
        await _fetch(f"http://{host}/big", f"http://{host}", max_bytes=4999)
    assert caught.value.retryable is False
    got = await _fetch(f"http://{host}/big", f"http://{host}", max_bytes=5000)
    assert len(got.content) == 5000


async def test_time_cap() -> None:
    """A server that accepts and never answers is given up on after the deadline."""
    import asyncio

    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(DeliveryError, match="timeout") as caught:
            await _fetch(f"http://127.0.0.1:{port}/x", f"http://127.0.0.1:{port}", deadline=0.5)
        assert caught.value.retryable is True
    finally:
        release.set()
        server.close()
        await server.wait_closed()


async def test_plain_http_only_when_allowed_and_still_pinned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """WeChat video links are http: allowed for its CDN names, checked and pinned the same."""
    seen: list[httpx.Request] = []

    async def lookup(host: str, port: int) -> list[str]:
        return {"v.qq.com": ["101.226.90.58"]}.get(host, ["127.0.0.1"])

    monkeypatch.setattr(netguard, "_lookup", lookup)

    def cdn(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"mp4")

    async with httpx.AsyncClient(transport=httpx.MockTransport(cdn)) as http:
        kw: dict[str, Any] = {
            "trusted_base": "https://api.weixin.qq.com",
            "allowed_suffixes": ("qq.com",),
            "max_bytes": 100,
        }
        with pytest.raises(netguard.MediaRefused, match="not on the platform's list"):
            await netguard.fetch(http, "http://v.qq.com/a.mp4", **kw)
        got = await netguard.fetch(http, "http://v.qq.com/a.mp4", allow_http=True, **kw)
        assert got.content == b"mp4"
        with pytest.raises(netguard.MediaRefused, match="non-public"):
            await netguard.fetch(http, "http://inner.qq.com/a.mp4", allow_http=True, **kw)
    (request,) = seen
    assert str(request.url) == "http://101.226.90.58/a.mp4"
    assert request.headers["host"] == "v.qq.com"
