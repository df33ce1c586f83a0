"""Guarded media downloads: only allowlisted hosts on public addresses, capped in size and time.

A media link in a push, or in a platform answer, names an address that someone outside
chose. Fetching it blindly lets a forged or replayed push read internal services or a
cloud metadata endpoint through the attachment download (server-side request forgery).
So every fetch here:

- accepts the configured API base (trusted: the admin set it, tests point it at a local
  fake) or an https URL whose host is on the connector's allowlist of platform CDNs;
- resolves that host once, refuses it when any address is loopback, private, link-local
  (which includes 169.254.169.254, the cloud metadata address), multicast, reserved or
  unspecified, and connects to the address it checked (no second lookup to rebind);
- follows at most MAX_REDIRECTS redirects itself, checking each hop the same way;
- stops reading past `max_bytes` and gives up after `deadline` seconds in all.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from channels.base import DeliveryError

# Real CDN links redirect at most once or twice; more is a loop or a trick.
MAX_REDIRECTS = 3
# Whole-download budget: WeChat's 10 MB video at a slow 1 MB/s, with margin.
DEFAULT_DEADLINE = 30.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# The AWS/GCP/Azure IPv6 metadata address; IPv4's 169.254.169.254 is already link-local.
_METADATA = frozenset({ipaddress.ip_address("fd00:ec2::254")})


class MediaRefused(DeliveryError):
    """A media address Huiliu will not fetch: permanent, nothing was requested."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"refused_address: 媒体地址不被允许 / media address refused ({reason})")


@dataclass(frozen=True)
class Fetched:
    """A downloaded body with the status and headers of the last hop."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def is_error(self) -> bool:
        return self.status_code >= 400


class TooLarge(DeliveryError):
    """The body passed the caller's cap; permanent (a second try is as big)."""


def public_address(address: str) -> bool:
    """True when `address` (an IP literal) is a routable public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip in _METADATA
    )


def host_allowed(host: str, suffixes: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == s or host.endswith("." + s) for s in suffixes)


async def _lookup(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (a seam for tests without DNS)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_public(host: str, port: int) -> str:
    """One public address of `host`; MediaRefused when any of its addresses is not public."""
    try:
        addresses = await _lookup(host, port)
    except OSError as exc:
        raise DeliveryError(f"network_error: cannot resolve {host}: {exc}", retryable=True) from exc
    if not addresses:
        raise DeliveryError(f"network_error: no address for {host}", retryable=True)
    bad = [a for a in addresses if not public_address(a)]
    if bad:
        raise MediaRefused(f"{host} resolves to a non-public address {bad[0]}")
    return addresses[0]


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


async def _target(
    url: str, trusted_base: str, suffixes: Iterable[str], allow_http: bool
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(URL to request, extra headers, request extensions) for one hop, or MediaRefused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaRefused(f"not an http(s) URL: {url[:100]}")
    if _same_origin(url, trusted_base):
        return url, {}, {}
    host = parts.hostname
    if (parts.scheme != "https" and not allow_http) or not host_allowed(host, suffixes):
        raise MediaRefused(f"host not on the platform's list: {host}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise MediaRefused(f"an IP address instead of a platform host: {host}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = await resolve_public(host, port)
    literal = f"[{address}]" if ":" in address else address
    pinned = urlunsplit(
        (parts.scheme, f"{literal}:{port}", parts.path, parts.query, parts.fragment)
    )
    # Connect to the checked address; TLS still verifies the certificate for `host`.
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if parts.scheme == "http":
        return pinned, {"Host": host_header}, {}
    return pinned, {"Host": host_header}, {"sni_hostname": host}


async def fetch(
    http: httpx.AsyncClient,
    url: str,
    *,
    trusted_base: str,
    allowed_suffixes: Iterable[str],
    max_bytes: int,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: httpx.Timeout | float | None = None,
    deadline: float = DEFAULT_DEADLINE,
    allow_http: bool = False,
) -> Fetched:
    """GET `url` under the rules in the module docstring; `allow_http`: allowlisted hosts
    may be plain http (WeChat's video links are).

    Raises MediaRefused (address not allowed), TooLarge, DeliveryError (retryable) on
    a timeout, and lets httpx.TransportError through for the caller to classify.
    """
    suffixes = tuple(allowed_suffixes)
    try:
        async with asyncio.timeout(deadline):
            return await _follow(
                http, url, trusted_base, suffixes, max_bytes, params, headers, timeout, allow_http
            )
    except TimeoutError as exc:
        raise DeliveryError(
            f"timeout: media download took over {deadline:.0f} s", retryable=True
        ) from exc


async def _follow(
    http: httpx.AsyncClient,
    url: str,
    trusted_base: str,
    suffixes: tuple[str, ...],
    max_bytes: int,
    params: Mapping[str, str] | None,
    headers: Mapping[str, str] | None,
    timeout: httpx.Timeout | float | None,
    allow_http: bool,
) -> Fetched:
    origin = urlsplit(url).netloc
    for _hop in range(MAX_REDIRECTS + 1):
        target, extra, extensions = await _target(url, trusted_base, suffixes, allow_http)
        # Credentials (Douyin's Access-Token header) never follow a redirect to another host.
        sent = dict(headers or {}) if urlsplit(url).netloc == origin else {}
        sent.update(extra)
        request = http.build_request(
            "GET",
            target,
            params=params,
            headers=sent,
            extensions=extensions,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        response = await http.send(request, stream=True, follow_redirects=False)
        try:
            location = response.headers.get("location")
            if response.status_code in _REDIRECTS and location:
                url, params = urljoin(url, location), None
                continue
            content = await read_capped(response, max_bytes)
            return Fetched(response.status_code, response.headers, content)
        finally:
            await response.aclose()
    raise MediaRefused(f"more than {MAX_REDIRECTS} redirects")


async def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The body, refused as soon as it (or its declared length) passes `max_bytes`."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"too_large: media over the {max_bytes}-byte cap ({declared} declared)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"too_large: media over the {max_bytes}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)
