"""One Settings class: CONTRACT section 2, read from HUILIU_* environment variables."""

from __future__ import annotations

import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")
_API_BASE_SUFFIX = "_api_base"
_ENV_API_BASE = re.compile(r"HUILIU_([A-Z0-9]+)_API_BASE")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUILIU_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./var/huiliu.db"
    redis_url: str | None = None
    secret_key: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"
    # Channel type -> platform API host, overriding the connector's `default_api_base`.
    # Read from HUILIU_<TYPE>_API_BASE (e.g. HUILIU_WECHAT_API_BASE); tests and the demo
    # point them at local fakes.
    api_bases: dict[str, str] = {}

    # Demo mode (`huiliu serve --demo`): fake platform APIs in-process and the simulator.
    demo: bool = False
    demo_rate: float = 0.25  # simulated customer messages per second

    # Operational knobs (not in the contract; safe defaults).
    max_body_bytes: int = 4 * 1024 * 1024  # any request: a 2 MB image upload plus form overhead
    max_webhook_bytes: int = 1024 * 1024  # WeChat pushes are < 1 MiB (channels.md 1.6)
    delivery_max_attempts: int = 8  # perf-reliability.md 3.3: "max 8"
    delivery_poll_seconds: float = 1.0
    events_poll_seconds: float = 2.0  # safety net under the pub/sub hint
    events_replay_limit: int = 1000  # beyond this a reconnecting client is told to resync
    attachments_dir: Path = VAR_DIR / "attachments"
    # The workspace's time zone (HUILIU_TIMEZONE): business hours and report days.
    timezone: str = "Asia/Shanghai"

    # Assignment (app/inbox/actions/assignment.py). Capacity: open conversations an agent is
    # given automatically at most; 0 turns automatic assignment off.
    assignment_capacity: int = 10
    # An open conversation goes back to the queue when its assignee has been offline
    # this long (long enough to ride out a page reload or a server restart)...
    assignment_offline_seconds: float = 300.0
    # ...or has not answered the customer this long. 0 disables either rule.
    assignment_unanswered_seconds: float = 900.0
    # Presence heartbeat and re-queue sweep; an agent is online if seen in 3 beats.
    assignment_sweep_seconds: float = 15.0
    # Search (app/archive/search.py): PostgreSQL cancels a search running longer.
    search_timeout_ms: int = 5000

    @model_validator(mode="before")
    @classmethod
    def _collect_api_bases(cls, data: Any) -> Any:
        """HUILIU_<TYPE>_API_BASE variables and `<type>_api_base` arguments -> api_bases."""
        if not isinstance(data, dict):
            return data
        bases: dict[str, str] = {}
        for name, value in os.environ.items():
            found = _ENV_API_BASE.fullmatch(name.upper())
            if found and value:
                bases[found.group(1).lower()] = value
        for name in [k for k in data if isinstance(k, str) and k.endswith(_API_BASE_SUFFIX)]:
            value = data.pop(name)
            if value:
                bases[name.removesuffix(_API_BASE_SUFFIX).lower()] = str(value)
        given = data.get("api_bases") or {}
        if isinstance(given, dict):
            bases.update({str(k): str(v) for k, v in given.items()})
        data["api_bases"] = bases
        return data

    def api_base(self, channel_type: str, default: str = "") -> str:
        """The API host configured for `channel_type`, else `default` (the connector's)."""
        return self.api_bases.get(channel_type) or default

    def with_api_bases(self, **bases: str) -> Settings:
        """A copy with these channel types' API hosts replaced (tests, the demo)."""
        return self.model_copy(update={"api_bases": {**self.api_bases, **bases}})

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return value or None

    @field_validator("secret_key", mode="before")
    @classmethod
    def _refuse_placeholders(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {
            "",
            "changeme",
            "changethis",
            "secret",
        }:
            raise ValueError("HUILIU_SECRET_KEY is a placeholder; set a long random value")
        return value

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once into var/secret_key and reused."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = VAR_DIR / "secret_key"
        if path.exists():
            return path.read_text().strip()
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()


# main.py puts the app's settings into every session's `info` under this key, so
# actions deep in a transaction (auto-assignment, search) read the app's knobs.
SESSION_SETTINGS = "huiliu_settings"


def settings_of(session: Any) -> Settings:
    """The settings of the app that opened `session`, else the environment's (the CLI)."""
    found = session.info.get(SESSION_SETTINGS)
    return found if isinstance(found, Settings) else get_settings()
