"""A local fake of the Douyin open API; `build_event` (from pushes.py) signs pushes.

For tests and the demo simulator: point `HUILIU_DOUYIN_API_BASE` (ctx.api_base)
at `FakeDouyin.base_url` and route ctx.http to `FakeDouyin.app`, so the
connector runs its production code path. Shapes follow brief §4.3-4.4 and the
SKIT.ByteDance samples; error codes are the platform's where known, and the
reply-window code is invented (no public figure was found).
"""

from __future__ import annotations

import json
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from channels.douyin.config import DouyinConfig
from sandbox.douyin.pushes import b64_id, build_event, build_verify_webhook

# Lifetimes: access 15 days, refresh 30 days (brief §4.4 [U]).
ACCESS_TTL = timedelta(days=15)
REFRESH_TTL = timedelta(days=30)

FAKE_CLIENT_SECRET = "fake_client_secret"

# (error_code, description) pairs the fake answers with.
TOKEN_INVALID = (2190002, "access_token无效")  # [3p XiaoFeng.DouYin enum]
TOKEN_EXPIRED = (2190008, "access_token过期,请刷新或重新授权")  # [3p, same]
OPEN_ID_MISMATCH = (2190015, "请求参数access_token openid不匹配")  # [3p, same]
BAD_PARAMS = (2100005, "参数不合法")  # [3p, same]
SYSTEM_BUSY = (2100004, "系统繁忙，此时请开发者稍候再试")  # [3p, same]: transient
REFRESH_EXPIRED = (10010, "refresh_token过期，请让用户重新授权")  # [3p OAuth table]
BAD_CLIENT_KEY = (10003, "client_key错误")  # [3p OAuth table]
RESOURCE_TOKEN_INVALID = (28001003, "access_token无效")  # [3p get-message-resources]
RESOURCE_NOT_FOUND = (28029020, "未获取到资源链接")  # [3p get-message-resources]
# Invented: the real code for a closed reply window / used-up quota is unknown.
WINDOW_CLOSED = (28009001, "超出可回复时间或条数限制，用户再次发消息后可回复")

__all__ = ["FakeDouyin", "SentMessage", "build_event", "build_verify_webhook"]


@dataclass(frozen=True)
class SentMessage:
    """One accepted /im/send/msg/ call."""

    open_id: str
    access_token: str
    body: dict[str, Any]
    msg_id: str
    at: datetime

    @property
    def text(self) -> str:
        content = self.body.get("content") or {}
        return str((content.get("text") or {}).get("text", ""))

    @property
    def to_user_id(self) -> str:
        return str(self.body.get("to_user_id", ""))


@dataclass
class _Failure:
    error_code: int
    description: str
    sub_error_code: int
    http_status: int


class FakeDouyin:
    """The open API for one app and one authorized business account, in memory."""

    def __init__(
        self,
        *,
        client_key: str = "fake_client_key",
        client_secret: str = FAKE_CLIENT_SECRET,
        open_id: str = "fake-account-open-id",
        account_name: str = "汇流旗舰店",
        base_url: str = "http://douyin.fake",
        start: datetime | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`start` freezes the clock there (tests); `clock` follows a real one (demo)."""
        self.client_key, self.client_secret, self.open_id = client_key, client_secret, open_id
        self.account_name = account_name
        self.base_url = base_url.rstrip("/")
        self._frozen = start or datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        self._clock = clock
        self._offset = timedelta(0)
        self._serial = 0
        self.access_tokens: dict[str, datetime] = {}
        self.refresh_tokens: dict[str, datetime] = {}
        self.access_token, self.refresh_token = self._issue()
        self.sent: list[SentMessage] = []
        self.send_attempts = 0
        self.refresh_calls = 0
        self.media_requests: list[str] = []
        self._failures: deque[_Failure] = deque()
        self._resources: dict[tuple[str, str], tuple[str, str]] = {}  # -> (key, media_type)
        self._files: dict[str, tuple[bytes, str]] = {}
        self.app = self._build_app()

    # --- test API --------------------------------------------------------------------

    def now(self) -> datetime:
        """The fake's clock; pass it as ChannelContext.now so both agree."""
        return (self._clock() if self._clock else self._frozen) + self._offset

    def advance(self, delta: timedelta) -> None:
        """Move the clock, e.g. past an access token's expiry."""
        self._offset += delta

    def config(self, **overrides: Any) -> DouyinConfig:
        """A DouyinConfig for this fake's app, account and current grant."""
        return DouyinConfig.model_validate({**self.config_values(), **overrides})

    def config_values(self) -> dict[str, Any]:
        """The same as plain values (what `channel create douyin` takes)."""
        return {
            "client_key": self.client_key,
            "client_secret": self.client_secret,
            "open_id": self.open_id,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
        }

    def fail_next_sends(
        self,
        count: int = 1,
        *,
        error: tuple[int, str] = WINDOW_CLOSED,
        sub_error_code: int = 0,
        http_status: int = 200,
    ) -> None:
        """Refuse the next `count` authenticated sends (HTTP 200 + error, or a bare status)."""
        for _ in range(count):
            self._failures.append(_Failure(error[0], error[1], sub_error_code, http_status))

    def revoke_refresh_tokens(self) -> None:
        """Make every refresh token invalid, as when the grant lapses or is withdrawn."""
        self.refresh_tokens.clear()

    def revoke_access_tokens(self) -> None:
        self.access_tokens.clear()

    def add_resource(
        self,
        conversation_id: str,
        message_id: str,
        content: bytes,
        *,
        media_type: str = "image",
        mime_type: str = "image/jpeg",
    ) -> None:
        """Media of a user_local_image/video message, served via the resources API."""
        key = self._store(content, mime_type)
        self._resources[(conversation_id, message_id)] = (key, media_type)

    def add_cdn_file(self, content: bytes, mime_type: str = "image/png") -> str:
        """A public file (like an emoji's resource_url); returns its URL."""
        return f"{self.base_url}/fake-cdn/{self._store(content, mime_type)}"

    def conversation_id(self, customer_open_id: str) -> str:
        """The stable conversation_short_id between the account and this customer."""
        return b64_id("conversation", self.open_id, customer_open_id)

    def customer_event(
        self,
        event: str,
        customer_open_id: str,
        *,
        nickname: str = "抖音用户",
        avatar: str = "https://p3.douyinpic.com/aweme/720x720/fake-avatar.jpeg",
        **fields: Any,
    ) -> tuple[dict[str, str], bytes]:
        """A signed push from or about a customer; `fields` go into `content`.

        im_receive_msg defaults to a text message; add `message_type`, `text`,
        `resource_url`, ... to change it. im_send_msg goes account -> customer.
        """
        self._serial += 1
        conversation_id = self.conversation_id(customer_open_id)
        content: dict[str, Any] = {
            "conversation_short_id": conversation_id,
            "server_message_id": b64_id("message", conversation_id, str(self._serial)),
            "conversation_type": 1,
            "create_time": int(self.now().timestamp() * 1000),
            "scene_type": 4 if event == "im_enter_direct_msg" else 100,
            "user_infos": [
                {"open_id": customer_open_id, "nick_name": nickname, "avatar": avatar},
                {"open_id": self.open_id, "nick_name": self.account_name, "avatar": ""},
            ],
        }
        if event in ("im_receive_msg", "im_send_msg"):
            content.update(message_type="text", source="", text="")
        content.update(fields)
        outgoing = event == "im_send_msg"
        sender, receiver = (
            (self.open_id, customer_open_id) if outgoing else (customer_open_id, self.open_id)
        )
        return build_event(
            self.client_secret, event, content, sender, receiver, client_key=self.client_key
        )

    def echo_of(self, sent: SentMessage) -> tuple[dict[str, str], bytes]:
        """The im_send_msg push Douyin sends back for one of our API sends.

        Its server_message_id is the msg_id the send returned [U: assumed equal].
        """
        return self.customer_event(
            "im_send_msg",
            sent.to_user_id,
            server_message_id=sent.msg_id,
            text=sent.text,
            create_time=int(sent.at.timestamp() * 1000),
        )

    # --- internals -------------------------------------------------------------------

    def _issue(self) -> tuple[str, str]:
        access = f"act.{secrets.token_hex(16)}"
        refresh = f"rft.{secrets.token_hex(16)}"
        self.access_tokens[access] = self.now() + ACCESS_TTL
        self.refresh_tokens[refresh] = self.now() + REFRESH_TTL
        return access, refresh

    def _store(self, content: bytes, mime_type: str) -> str:
        key = secrets.token_hex(8)
        self._files[key] = (content, mime_type)
        return key

    def _logid(self) -> str:
        return self.now().strftime("%Y%m%d%H%M%S") + secrets.token_hex(12)

    def _token_error(self, token: str) -> tuple[int, str] | None:
        expires = self.access_tokens.get(token)
        if expires is None:
            return TOKEN_INVALID
        return TOKEN_EXPIRED if self.now() >= expires else None

    def _im_answer(self, error: tuple[int, str] | None, sub: int = 0, **more: Any) -> JSONResponse:
        code, description = error or (0, "")
        extra = {
            "error_code": code,
            "description": description,
            "sub_error_code": sub,
            "sub_description": "",
            "logid": self._logid(),
            "now": int(self.now().timestamp()),
        }
        return JSONResponse(
            {"extra": extra, "data": {"error_code": code, "description": description}, **more}
        )

    def _send(self, token: str, open_id: str, body: Any) -> JSONResponse | Response:
        self.send_attempts += 1
        error = self._token_error(token)
        if error is None and open_id != self.open_id:
            error = OPEN_ID_MISMATCH
        if error is not None:
            return self._im_answer(error)
        if self._failures:
            failure = self._failures.popleft()
            if failure.http_status != 200:
                return Response(b"upstream error", status_code=failure.http_status)
            return self._im_answer(
                (failure.error_code, failure.description), failure.sub_error_code
            )
        content = body.get("content") if isinstance(body, dict) else None
        required = ("msg_id", "conversation_id", "to_user_id")
        if not isinstance(content, dict) or not all(body.get(k) for k in required):
            return self._im_answer(BAD_PARAMS)
        if body.get("scene", "im_replay_msg") not in ("im_replay_msg", "im_enter_direct_msg"):
            return self._im_answer(BAD_PARAMS)
        msg_id = b64_id("sent", str(len(self.sent)), secrets.token_hex(4))
        self.sent.append(SentMessage(open_id, token, body, msg_id, self.now()))
        return self._im_answer(None, msg_id=msg_id)

    def _refresh(self, form: Mapping[str, str]) -> JSONResponse:
        self.refresh_calls += 1
        refresh, now = form.get("refresh_token", ""), self.now()
        error: tuple[int, str] | None = None
        if form.get("client_key") != self.client_key:
            error = BAD_CLIENT_KEY
        elif form.get("grant_type") != "refresh_token":
            error = BAD_PARAMS
        elif self.refresh_tokens.get(refresh, now) <= now:
            error = REFRESH_EXPIRED
        if error is not None:
            data = {"error_code": error[0], "description": error[1]}
            return JSONResponse({"data": data, "message": "error"})
        # Rotation: the old pair stops working, so a client must keep the new one.
        self.access_tokens.pop(self.access_token, None)
        self.refresh_tokens.pop(refresh, None)
        self.access_token, self.refresh_token = self._issue()
        data = {  # numbers as strings, as in the SKIT sample (brief §4.4)
            "access_token": self.access_token,
            "description": "",
            "error_code": "0",
            "expires_in": str(int(ACCESS_TTL.total_seconds())),
            "open_id": self.open_id,
            "refresh_expires_in": str(int(REFRESH_TTL.total_seconds())),
            "refresh_token": self.refresh_token,
            "scope": "im.direct_message,im.multimedia_message",
        }
        return JSONResponse({"data": data, "message": "success"})

    def _resource(self, token: str, query: Mapping[str, str]) -> JSONResponse:
        found = self._resources.get((query.get("conversation_id", ""), query.get("message_id", "")))
        error = RESOURCE_TOKEN_INVALID if self._token_error(token) else None
        if error is None and query.get("open_id") != self.open_id:
            error = OPEN_ID_MISMATCH
        if error is None and found is None:
            error = RESOURCE_NOT_FOUND
        if error is not None or found is None:
            code, msg = error or RESOURCE_NOT_FOUND
            return JSONResponse(
                {"err_no": code, "err_msg": msg, "log_id": self._logid(), "data": {}}
            )
        key, media_type = found
        # A literal \u0026 in place of &, which the doc warns about [3p quote].
        url = f"{self.base_url}/fake-media/{key}?sign={secrets.token_hex(4)}\\u0026expires=30d"
        data = {"media_type": media_type, "url": url}
        return JSONResponse({"err_no": 0, "err_msg": "", "log_id": self._logid(), "data": data})

    def _file(self, key: str) -> Response:
        content, mime_type = self._files.get(key, (b"", ""))
        if not mime_type:
            return Response(b"not found", status_code=404)
        return Response(content, media_type=mime_type)

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Fake Douyin open API", openapi_url=None)

        @app.post("/im/send/msg/")
        async def send_msg(request: Request) -> Response:
            try:
                body = json.loads(await request.body())
            except json.JSONDecodeError:
                return self._im_answer(BAD_PARAMS)
            token = request.headers.get("access-token", "")
            return self._send(token, request.query_params.get("open_id", ""), body)

        @app.post("/oauth/refresh_token/")
        async def refresh_token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            return self._refresh(form)

        @app.get("/api/im/message/resources/")
        async def resources(request: Request) -> Response:
            token = request.headers.get("access-token", "")
            return self._resource(token, dict(request.query_params))

        @app.get("/fake-media/{key}")
        async def media(key: str, request: Request) -> Response:
            self.media_requests.append(key)
            token_ok = self._token_error(request.headers.get("access-token", "")) is None
            open_id_ok = request.headers.get("openid") == self.open_id
            if not token_ok or not open_id_ok or "expires" not in request.query_params:
                return Response(b"forbidden", status_code=403)
            return self._file(key)

        @app.get("/fake-cdn/{key}")
        async def cdn(key: str) -> Response:
            self.media_requests.append(key)
            return self._file(key)

        return app
