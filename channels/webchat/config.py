"""A website chat channel's settings: where it may be embedded, its identity secret,
and what the widget says (title, greeting, offline message, pre-chat form).

Field names are singular where the CLI repeats the option (`--allowed-origin O` twice
gives `allowed_origin: [O, O2]`): the generic `huiliu channel create` maps options
to these names one to one.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator

from channels.webchat.origins import normalize_origin

PRECHAT_NAMES = ("name", "email", "phone")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def new_identity_secret() -> SecretStr:
    """32 random bytes, hex: what the site's backend signs user ids with."""
    return SecretStr(secrets.token_hex(32))


class WebchatConfig(BaseModel):
    """One website widget."""

    # Origins allowed to embed the widget ("https://shop.example.com", or
    # "https://*.example.com" for its subdomains); empty means any site.
    allowed_origin: list[str] = []
    # Key of the identify() HMAC (CONTRACT section 7); generated when not given.
    identity_secret: SecretStr = Field(default_factory=new_identity_secret)
    # Header title; empty: the channel's name.
    title: str = Field("", max_length=60)
    # Shown as the first bubble of every chat (not stored); empty: a default text.
    greeting: str = Field("", max_length=500)
    # Shown when no agent is online, above the offline form; empty: a default text.
    offline_message: str = Field("", max_length=500)
    # Pre-chat form: "name", "email", "phone"; a trailing "!" makes the field required.
    prechat_field: list[str] = []
    color: str = "#2563eb"

    @field_validator("allowed_origin")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        out = []
        for raw in value:
            origin = normalize_origin(raw, allow_wildcard=True)
            if origin is None:
                raise ValueError(
                    f"{raw!r} is not an origin like https://shop.example.com "
                    "or https://*.example.com"
                )
            out.append(origin)
        return out

    @field_validator("identity_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr) -> SecretStr:
        # Short keys make the HMAC guessable; 16 characters is the floor Chatwoot also uses.
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("prechat_field")
    @classmethod
    def _prechat(cls, value: list[str]) -> list[str]:
        seen = set()
        for spec in value:
            name = spec.rstrip("!")
            if name not in PRECHAT_NAMES:
                raise ValueError(f"{spec!r}: pre-chat fields are name, email, phone (! = required)")
            if name in seen:
                raise ValueError(f"{name} is listed twice")
            seen.add(name)
        return value

    @field_validator("color")
    @classmethod
    def _color(cls, value: str) -> str:
        if not _COLOR.match(value):
            raise ValueError("must be a colour like #2563eb")
        return value.lower()

    def prechat_form(self) -> list[dict[str, Any]]:
        """The pre-chat fields as the widget renders them."""
        return [
            {"name": spec.rstrip("!"), "required": spec.endswith("!")}
            for spec in self.prechat_field
        ]
