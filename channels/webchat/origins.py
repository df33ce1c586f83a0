"""Origin allow-lists: normalizing `scheme://host[:port]` and matching against them."""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: str, *, allow_wildcard: bool = False) -> str | None:
    """`https://Shop.Example.com:443/` -> `https://shop.example.com`; None if not an origin."""
    value = value.strip()
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    host = parts.hostname.lower()
    if "*" in host:
        labels = host.split(".")
        # Only a whole leftmost label, with at least a registrable domain after it.
        if not allow_wildcard or labels[0] != "*" or len(labels) < 3 or "*" in labels[1:]:
            return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def origin_of_url(url: str) -> str | None:
    """The origin of a full URL (a Referer header), or None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return normalize_origin(f"{parts.scheme}://{parts.netloc}")


def origin_allowed(allowed: list[str], origin: str | None) -> bool:
    """True when `origin` is on the list; an empty list allows every origin."""
    if not allowed:
        return True
    got = normalize_origin(origin) if origin else None
    if got is None:
        return False
    for entry in allowed:
        if entry == got:
            return True
        scheme, _, host = entry.partition("://")
        if host.startswith("*."):
            suffix = host[1:]  # ".example.com[:port]"
            got_scheme, _, got_host = got.partition("://")
            if got_scheme == scheme and got_host.endswith(suffix) and len(got_host) > len(suffix):
                return True
    return False
