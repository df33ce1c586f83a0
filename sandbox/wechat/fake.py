"""A local fake of the WeChat API, for tests and the demo simulator.

`FakeWeChat(...).app` is a FastAPI app answering like api.weixin.qq.com on the
paths the connector uses (`channels.md` §2): tokens that expire by a clock tests
can move, the customer-service send with its 48-hour window and per-window quota,
the typing indicator, temporary media (upload with WeChat's type and size limits,
download) that expire after 3 days. Errors are HTTP 200 with an errcode body, as
WeChat sends them. Pushes *to* Huiliu are built by `sandbox.wechat.pushes`; the
HTTP routes are in `sandbox.wechat.routes`, here the account's state and rules.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

# Re-exported: the simulator and webhook tests build pushes next to the fake API.
from sandbox.wechat.pushes import (  # noqa: F401
    FAKE_ORIGINAL_ID,
    build_push,
    build_verification,
    event_xml,
    message_xml,
    push_xml,
)
from sandbox.wechat.routes import ERRMSG, build_app, json_object

# Tokens last 7200 s (§2.1).
TOKEN_TTL = 7200
# After a new token is issued the previous one stays valid 5 more minutes (§2.1).
TOKEN_OVERLAP = timedelta(seconds=300)
# A customer message opens a 48-hour window with 5 replies (§2.3 table, since June 2023).
WINDOW = timedelta(hours=48)
WINDOW_QUOTA = 5
# Temporary media expire 3 days after upload, user media included (§2.5).
MEDIA_TTL = timedelta(days=3)
# media/upload `type` -> (size cap, file extensions, errcode over the cap) (§2.5 limits;
# 40009 is WeChat's "invalid image size", 40006 its "invalid file size").
UPLOAD_RULES: dict[str, tuple[int, frozenset[str], int]] = {
    "image": (2 * 1024 * 1024, frozenset({"png", "jpeg", "jpg", "gif"}), 40009),
    "voice": (2 * 1024 * 1024, frozenset({"amr", "mp3"}), 40006),
    "video": (10 * 1024 * 1024, frozenset({"mp4"}), 40006),
    "thumb": (64 * 1024, frozenset({"jpg"}), 40006),
}
# What media/get answers for an uploaded file, by its extension.
UPLOAD_MIME = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "amr": "audio/amr",
    "mp3": "audio/mpeg",
    "mp4": "video/mp4",
}
# custom/typing commands (§2.4).
TYPING_COMMANDS = frozenset({"Typing", "CancelTyping"})
# The msgtype values of the customer-service send (§2.2).
SEND_TYPES = frozenset(
    [
        "text",
        "image",
        "voice",
        "video",
        "music",
        "news",
        "mpnews",
        "mpnewsarticle",
        "msgmenu",
        "wxcard",
        "miniprogrampage",
    ]
)


@dataclass
class _Token:
    expires_at: datetime
    revoked: bool = False


@dataclass
class _Media:
    content: bytes
    content_type: str
    file_name: str | None
    created_at: datetime
    as_video_url: bool
    # The media/upload type ("image", ...); None for media added by a test, usable as any.
    kind: str | None = None


@dataclass
class _Failure:
    errcode: int
    errmsg: str
    http_status: int


class FakeWeChat:
    """State of one fake Official Account plus the `.app` serving it.

    Tests read `sent` (accepted send bodies), `attempts` (every send call, with the
    errcode answered), `token_requests`, `uploads` (every media/upload call, with the
    errcode and, when accepted, the media_id) and `typing_calls` (every custom/typing
    call, with the errcode); they steer it with `advance`, `fail_next_sends`,
    `customer_wrote`, `unfollow`, `add_media`, `invalidate_tokens`.
    """

    def __init__(
        self,
        *,
        app_id: str = "wx0123456789abcdef",
        app_secret: str = "fake-app-secret",  # noqa: S107 - a fake's credential
        token_ttl: int = TOKEN_TTL,
        window_quota: int | None = WINDOW_QUOTA,
        return_msgid: bool = False,
        start: datetime | None = None,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.token_ttl = token_ttl
        self.window_quota = window_quota
        self.return_msgid = return_msgid
        # With `start` the clock stands still between `advance` calls (deterministic
        # tests); without it, it follows real time (the demo simulator).
        self.start = start
        self.offset = timedelta(0)
        self.sent: list[dict[str, Any]] = []
        self.attempts: list[dict[str, Any]] = []
        self.token_requests: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []
        self.typing_calls: list[dict[str, Any]] = []
        self._tokens: dict[str, _Token] = {}
        self._current: dict[str, str] = {}  # "stable" / "classic" -> latest token
        self._failures: deque[_Failure] = deque()
        self._last_inbound: dict[str, datetime] = {}
        self._window_sends: dict[str, int] = {}
        self._unfollowed: set[str] = set()
        self._media: dict[str, _Media] = {}
        self._counter = 0
        self.app = build_app(self)

    # --- what tests steer -------------------------------------------------------------

    def now(self) -> datetime:
        """The fake's clock: `start` (or real time) plus whatever `advance` added."""
        return (self.start or datetime.now(UTC)) + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward (tokens, windows and media expire by it)."""
        self.offset += timedelta(seconds=seconds)

    def fail_next_sends(
        self, errcode: int, count: int = 1, *, errmsg: str | None = None, http_status: int = 200
    ) -> None:
        """Answer the next `count` sends with this errcode (after the token check)."""
        message = errmsg if errmsg is not None else ERRMSG.get(errcode, "fake error")
        self._failures.extend(_Failure(errcode, message, http_status) for _ in range(count))

    def customer_wrote(self, openid: str, at: datetime | None = None) -> None:
        """Open the 48-hour window for `openid` (from then on it is enforced)."""
        self._last_inbound[openid] = at or self.now()
        self._window_sends[openid] = 0
        self._unfollowed.discard(openid)

    def unfollow(self, openid: str) -> None:
        """The user unfollowed: sends to them answer 45015."""
        self._unfollowed.add(openid)

    def add_media(
        self,
        media_id: str,
        content: bytes,
        content_type: str,
        *,
        file_name: str | None = None,
        as_video_url: bool = False,
    ) -> None:
        """Serve `content` from media/get; `as_video_url` answers {"video_url": ...}."""
        self._media[media_id] = _Media(content, content_type, file_name, self.now(), as_video_url)

    def invalidate_tokens(self) -> None:
        """Every token issued so far answers 40001 (as after a secret reset)."""
        for token in self._tokens.values():
            token.revoked = True
        self._current.clear()

    # --- tokens -----------------------------------------------------------------------

    def issue_token(self, kind: str) -> tuple[str, int]:
        now = self.now()
        previous = self._tokens.get(self._current.get(kind, ""))
        if previous is not None:
            previous.expires_at = min(previous.expires_at, now + TOKEN_OVERLAP)
        self._counter += 1
        token = f"FAKE_{kind.upper()}_TOKEN_{self._counter:04d}_{self.app_id}"
        self._tokens[token] = _Token(now + timedelta(seconds=self.token_ttl))
        self._current[kind] = token
        return token, self.token_ttl

    def stable_token(self, force: bool) -> tuple[str, int]:
        current = self._tokens.get(self._current.get("stable", ""))
        if not force and current is not None and not current.revoked:
            remaining = int((current.expires_at - self.now()).total_seconds())
            # Normal mode hands back the same token until it is 5 minutes from expiry.
            if remaining > TOKEN_OVERLAP.total_seconds():
                return self._current["stable"], remaining
        return self.issue_token("stable")

    def credentials_error(self, grant_type: Any, appid: Any, secret: Any) -> int:
        if grant_type != "client_credential":
            return 40002
        if appid != self.app_id:
            return 40013
        return 40125 if secret != self.app_secret else 0

    def token_error(self, token: str | None) -> int:
        if not token:
            return 41001
        known = self._tokens.get(token)
        if known is None or known.revoked:
            return 40001
        return 42001 if self.now() >= known.expires_at else 0

    # --- sends ------------------------------------------------------------------------

    def accept_send(self, body: bytes) -> int:
        data = json_object(body)
        if data is None:
            return 47001
        openid, msgtype = data.get("touser"), data.get("msgtype")
        if not isinstance(openid, str) or not openid:
            return 40003
        if msgtype not in SEND_TYPES or not isinstance(data.get(msgtype), dict):
            return 40008
        if msgtype == "text" and not str(data["text"].get("content", "")).strip():
            return 44004
        if msgtype in {"image", "voice", "video"} and not self._media_usable(
            data[msgtype].get("media_id"), msgtype
        ):
            return 40007
        window_error = self._window_closed(openid) or self._over_quota(openid)
        if window_error:
            return window_error
        self._window_sends[openid] = self._window_sends.get(openid, 0) + 1
        self.sent.append(data)
        return 0

    def _media_usable(self, media_id: Any, kind: str) -> bool:
        """Issued by this fake (upload or `add_media`), unexpired, of the right type."""
        media = self.live_media(media_id) if isinstance(media_id, str) else None
        return media is not None and (media.kind is None or media.kind == kind)

    def _window_closed(self, openid: str) -> int:
        if openid in self._unfollowed:
            return 45015
        last = self._last_inbound.get(openid)
        if last is not None and self.now() - last > WINDOW:
            return 45015
        return 0  # inside the window, or not told when the customer wrote: accept

    def _over_quota(self, openid: str) -> int:
        if openid not in self._last_inbound or self.window_quota is None:
            return 0
        return 45047 if self._window_sends[openid] >= self.window_quota else 0

    def accept_typing(self, body: bytes, call: dict[str, Any]) -> int:
        data = json_object(body)
        if data is None:
            return 47001
        openid, command = data.get("touser"), data.get("command")
        call.update(touser=openid, command=command)
        if not isinstance(openid, str) or not openid:
            return 40003
        if command not in TYPING_COMMANDS:
            return 47001
        # The indicator needs an open window but uses none of its quota.
        return self._window_closed(openid)

    # --- uploads ----------------------------------------------------------------------

    async def accept_upload(self, request: Request, kind: str, record: dict[str, Any]) -> int:
        if kind not in UPLOAD_RULES:
            return 40004
        try:
            form = await request.form()
        except (MultiPartException, HTTPException):
            return 41005  # malformed multipart (a body of another type has no "media")
        try:
            upload = form.get("media")
            if not isinstance(upload, UploadFile) or not upload.filename:
                return 41005
            content = await upload.read()
            name = upload.filename
            record.update(content_type=upload.content_type)
        finally:
            await form.close()  # the parts' temporary files
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        record.update(file_name=name, size=len(content))
        cap, extensions, too_large = UPLOAD_RULES[kind]
        if extension not in extensions:
            return 40005
        if not content:
            return 41005
        if len(content) > cap:
            return too_large
        self._counter += 1
        media_id = f"FAKE_MEDIA_{self._counter:04d}_{kind}"
        # Video media comes back from media/get as a link (§2.5), like a user's video.
        self._media[media_id] = _Media(
            content, UPLOAD_MIME[extension], name, self.now(), kind == "video", kind
        )
        record.update(media_id=media_id, content=content)
        return 0

    def live_media(self, media_id: str) -> _Media | None:
        """The media media/get serves: None once unknown or past the 3 days (§2.5)."""
        media = self._media.get(media_id)
        if media is None or self.now() - media.created_at > MEDIA_TTL:
            return None
        return media

    def stored_media(self, media_id: str) -> _Media | None:
        """Any media ever stored, expired or not (the CDN links keep working)."""
        return self._media.get(media_id)

    def next_failure(self) -> _Failure | None:
        """The failure `fail_next_sends` queued for this send, if any."""
        return self._failures.popleft() if self._failures else None
