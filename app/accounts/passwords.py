"""Password checks that cost CPU or need a list: argon2 off the event loop, common passwords.

argon2id takes tens of milliseconds of CPU and 19 MiB per call (app/accounts/security.py).
Run on the event loop it stalls every request; run in unlimited threads, 48 concurrent
failed logins starve webhooks of CPU (issue 19, item 6). So hashing runs in a worker
thread, at most HASH_CONCURRENCY at a time per process; callers hold no database
connection while they wait (see app/web/pages.py `login`).

Common passwords are refused with zxcvbn's list of the 30,000 most used passwords.
"""

from __future__ import annotations

import asyncio
import os
import weakref

from zxcvbn.matching import RANKED_DICTIONARIES

from app.accounts.security import hash_password, verify_password
from app.errors import BadRequest

# One hash per core leaves the event loop's own thread room to answer webhooks.
HASH_CONCURRENCY = max(1, (os.cpu_count() or 2) - 1)
_COMMON = RANKED_DICTIONARIES["passwords"]
_limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _limit() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    limit = _limits.get(loop)
    if limit is None:
        limit = _limits[loop] = asyncio.Semaphore(HASH_CONCURRENCY)
    return limit


async def verify(password_hash: str | None, password: str) -> bool:
    async with _limit():
        return await asyncio.to_thread(verify_password, password_hash, password)


async def hash_(password: str) -> str:
    async with _limit():
        return await asyncio.to_thread(hash_password, password)


def is_common(password: str) -> bool:
    """True when the password (ignoring case and surrounding spaces) is on the common list."""
    return password.strip().lower() in _COMMON


def check_not_common(password: str) -> None:
    if is_common(password):
        raise BadRequest("password is too common (one of the most used passwords); choose another")
