"""Helpers for the web page tests: staff with known emails, signing in with the cookie."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import Factory

PASSWORD = "correct horse battery"  # what tests/conftest.py's Factory gives every user


async def staff(factory: Factory, role: str = "agent", **kwargs: Any) -> dict[str, Any]:
    user = await factory.user(role, **kwargs)
    user["email"] = f"{role}{factory.n}@example.com"
    return user


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]{64})">', html)
    assert found, "the inbox page carries the session's CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; the client keeps the cookie. Returns the CSRF token."""
    r = await client.post("/login", data={"email": email, "password": password})
    assert r.status_code == 303, r.text
    page = await client.get("/inbox")
    assert page.status_code == 200
    return csrf_of(page.text)
