"""A Douyin channel's settings, and the platform figures they default to.

Sources are `../shared/reference/channels.md` §4 ("the brief"); [U] marks what
the brief itself calls unverified.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, SecretStr

# Replies are accepted for 24 h after the customer's last message: the reply
# `msg_id` is valid ~24 h [3p dy-java SendMsgQuery] and an integrator guide says the
# same [3p/U]; brief §4.3. The platform stays the judge: its refusal is surfaced.
DEFAULT_REPLY_WINDOW_HOURS = 24
DEFAULT_REPLY_WINDOW = timedelta(hours=DEFAULT_REPLY_WINDOW_HOURS)

# Production API host (CONTRACT §2, HUILIU_DOUYIN_API_BASE); the sandbox is
# https://open-sandbox.douyin.com (brief §4.4).
DEFAULT_API_BASE = "https://open.douyin.com"


class DouyinConfig(BaseModel):
    """One authorized Douyin business (B) account behind one developer app."""

    client_key: str = Field(min_length=1)
    # Signs every webhook (X-Douyin-Signature) and authenticates token refreshes.
    client_secret: SecretStr
    # The business account's open_id under this app: the `open_id` query of sends.
    open_id: str = Field(min_length=1)
    # The account's OAuth grant (scope im.direct_message); refreshed before expiry.
    access_token: SecretStr
    refresh_token: SecretStr
    reply_window_hours: int = Field(default=DEFAULT_REPLY_WINDOW_HOURS, ge=1, le=24 * 30)
    # Replies allowed per customer message. None (default): not counted here, the
    # platform refuses and its description is surfaced, because the only figure
    # ("~6 messages", brief §4.3) is [3p/U] and a wrong local cap would block agents.
    max_replies_per_window: int | None = Field(default=None, ge=1)
