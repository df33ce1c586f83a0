"""Now and then a platform misbehaves in the demo, as real ones do.

Every so often the demo makes one fake platform refuse or disturb the next reply, so a
newcomer sees in the inbox how failures look and how they are retried:

- token expired: every access token is revoked; the connector refreshes and the reply
  still goes out (nothing visible but a token request);
- platform busy: the next send answers "busy" (WeChat -1, Douyin HTTP 503); the delivery
  worker retries it and it goes out a little later;
- reply window closed: the next send is refused as outside the window (WeChat 45015,
  Douyin's window error); the reply shows as failed with the platform's reason.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from sandbox.douyin.fake import FakeDouyin
from sandbox.wechat.fake import FakeWeChat

log = logging.getLogger(__name__)

# Seconds between two mishaps at most and at least; 0 turns them off.
DEFAULT_EVERY = (60.0, 180.0)


class Mishaps:
    def __init__(
        self, wechat: FakeWeChat, douyin: FakeDouyin, *, rng: random.Random | None = None
    ) -> None:
        self.rng = rng or random.Random()
        self.actions: dict[str, Callable[[], None]] = {
            "wechat token expired": wechat.invalidate_tokens,
            "wechat busy": lambda: wechat.fail_next_sends(-1),
            "wechat reply window closed": lambda: wechat.fail_next_sends(45015),
            "douyin token expired": douyin.revoke_access_tokens,
            "douyin busy": lambda: douyin.fail_next_sends(http_status=503),
            "douyin reply window closed": lambda: douyin.fail_next_sends(),
        }
        self.happened: list[str] = []

    def one(self, name: str | None = None) -> str:
        """Make one mishap happen (a random one unless named); its name."""
        chosen = name or self.rng.choice(sorted(self.actions))
        self.actions[chosen]()
        self.happened.append(chosen)
        log.info("demo mishap: %s", chosen)
        return chosen

    async def run_forever(self, every: tuple[float, float] = DEFAULT_EVERY) -> None:
        """One mishap every `every[0]`..`every[1]` seconds, until cancelled."""
        low, high = every
        if high <= 0:
            return
        while True:
            await asyncio.sleep(self.rng.uniform(low, high))
            self.one()
