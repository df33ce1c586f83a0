"""The widget's websocket protocol, client side in: parse and validate one JSON frame.

Pure: a frame is text in, a typed value or FrameError out. Everything a visitor sends
is hostile until this module has looked at it: sizes are capped, ids have a format,
text loses control characters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# One frame: a message at the length cap, in the worst JSON escaping, fits well under.
MAX_FRAME_CHARS = 32_000
# Same cap as an agent reply (app/inbox/schemas.py ReplyIn).
MAX_MESSAGE_CHARS = 4000
# Client-generated per message; a resend with the same echo_id is stored once.
_ECHO_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,60}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{2,30}$")
# C0/C1 controls except tab and newline; a visitor's text never needs them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Lone UTF-16 halves, valid in a JSON escape but not in UTF-8. Message text keeps them
# until storage, which replaces them and records it (app/inbox/storable.py).
_SURROGATE = re.compile("[\ud800-\udfff]")


class FrameError(Exception):
    """A frame the server answers with an error frame (and otherwise ignores)."""

    def __init__(self, detail: str, code: int = 400, echo_id: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        # The refused message's echo_id, so the widget stops resending it.
        self.echo_id = echo_id


@dataclass(frozen=True)
class Profile:
    """What the visitor says about themselves (pre-chat form, offline form, identify)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None

    def __bool__(self) -> bool:
        return bool(self.name or self.email or self.phone)


@dataclass(frozen=True)
class Identify:
    user_id: object  # checked with the HMAC, never trusted alone
    hmac: object
    profile: Profile


@dataclass(frozen=True)
class Hello:
    token: str | None
    last_message_id: int
    identify: Identify | None
    profile: Profile | None


@dataclass(frozen=True)
class Send:
    echo_id: str
    text: str


@dataclass(frozen=True)
class Typing:
    typing: bool


@dataclass(frozen=True)
class Seen:
    message_id: int


@dataclass(frozen=True)
class Prechat:
    profile: Profile


@dataclass(frozen=True)
class Ping:
    pass


Frame = Hello | Send | Typing | Seen | Identify | Prechat | Ping


def clean_text(value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise FrameError("text must be a string")
    text = _CONTROL.sub("", value).replace("\r\n", "\n").strip()
    if len(text) > limit:
        raise FrameError(f"text longer than {limit} characters", code=413)
    return text


def valid_echo_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ECHO_ID.match(value))


def _optional(value: object, limit: int) -> str | None:
    if value is None or value == "":
        return None
    # A lone surrogate cannot be stored; a profile field has nothing to record it on.
    text = _SURROGATE.sub("\ufffd", clean_text(value, limit))
    return text or None


def parse_profile(data: Any) -> Profile:
    if not isinstance(data, dict):
        raise FrameError("profile must be an object")
    name = _optional(data.get("name"), 100)
    email = _optional(data.get("email"), 254)
    phone = _optional(data.get("phone"), 40)
    if email is not None and not _EMAIL.match(email):
        raise FrameError("invalid email")
    if phone is not None and not _PHONE.match(phone):
        raise FrameError("invalid phone number")
    return Profile(name=name, email=email, phone=phone)


def _identify(data: dict[str, Any]) -> Identify:
    return Identify(user_id=data.get("id"), hmac=data.get("hmac"), profile=parse_profile(data))


def _message_id(value: object) -> int:
    if type(value) is not int or value < 0:
        raise FrameError("message ids are non-negative integers")
    return value


def parse_frame(raw: str | None) -> Frame:
    """One client frame; raises FrameError."""
    if raw is None:
        raise FrameError("frames are JSON text")
    if len(raw) > MAX_FRAME_CHARS:
        raise FrameError("frame too large", code=413)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested thousands deep
        raise FrameError("frames are JSON text") from exc
    if not isinstance(data, dict):
        raise FrameError("a frame is a JSON object")
    kind = data.get("type")
    if kind == "message":
        echo_id = data.get("echo_id")
        if not isinstance(echo_id, str) or not valid_echo_id(echo_id):
            raise FrameError("echo_id must be 8-64 characters of A-Z a-z 0-9 _ -")
        try:
            text = clean_text(data.get("text"), MAX_MESSAGE_CHARS)
        except FrameError as exc:
            raise FrameError(exc.detail, exc.code, echo_id) from None
        if not text:
            raise FrameError("empty message", echo_id=echo_id)
        return Send(echo_id=echo_id, text=text)
    if kind == "typing":
        return Typing(typing=data.get("typing") is True)
    if kind == "seen":
        return Seen(message_id=_message_id(data.get("message_id")))
    if kind == "identify":
        return _identify(data)
    if kind == "prechat":
        return Prechat(profile=parse_profile(data.get("fields")))
    if kind == "ping":
        return Ping()
    if kind == "hello":
        token = data.get("token")
        identify = data.get("identify")
        profile = data.get("profile")
        return Hello(
            token=token if isinstance(token, str) else None,
            last_message_id=_message_id(data.get("last_message_id", 0)),
            identify=_identify(identify) if isinstance(identify, dict) else None,
            profile=parse_profile(profile) if profile is not None else None,
        )
    raise FrameError("unknown frame type")
