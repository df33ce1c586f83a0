"""A local fake of the WeCom 微信客服 API, for tests, the demo and the bench.

`FakeWeCom(...).app` answers like qyapi.weixin.qq.com on the kf paths the connector
uses (channels.md §3): `gettoken` with the kf secret (tokens expire by a clock tests can
move; 40014 unknown, 42001 expired), `kf/sync_msg` (cursor, limit <= 1000, has_more,
only the last 3 days readable, the notice Token valid 10 minutes, messages sent through
send_msg not returned), `kf/send_msg` (msgid <= 32 bytes of [0-9a-zA-Z_-] and the
idempotency key, 48-hour window after the customer's last message and 5 replies in
it), `send_msg_on_event` (single-use welcome codes), `service_state/get|trans`,
`customer/batchget`, `media/get|upload`. Errors are HTTP 200 with an errcode body.
`notice()` builds the encrypted callback WeCom would POST to Huiliu.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request, Response

from channels.weixin import crypto

TOKEN_TTL = 7200
# The notice's Token lets sync_msg be called for 10 minutes (§3).
NOTICE_TOKEN_TTL = timedelta(minutes=10)
# Only the last 3 days of messages are readable (§3).
HISTORY = timedelta(days=3)
# A customer message opens 48 hours for at most 5 replies (§3 table).
WINDOW = timedelta(hours=48)
WINDOW_QUOTA = 5
PAGE_MAX = 1000
MSGID_RE = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
# A welcome_code is usable once, within 20 seconds [doc 95122].
WELCOME_TTL = timedelta(seconds=20)
# service_state transitions the fake allows (§3 table; [U] on the full matrix).
TRANSITIONS = {0: {1, 2, 3, 4}, 1: {2, 3, 4}, 2: {3, 4}, 3: {2, 3, 4}, 4: set[int]()}

# The kf-specific codes below 95000-95018 follow third-party SDK comments and blog posts
# [U]: 95001 (5-message limit) is quoted from the docs by an SDK; the others are the fake's
# choice for the documented situations (bad account, bad msg token, ended session,
# refused state change, a session a human servicer holds).
ERRMSG = {
    -1: "system error",
    40001: "invalid secret",
    40007: "invalid media_id",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40058: "invalid parameter",
    41001: "access_token missing",
    42001: "access_token expired",
    44004: "empty content",
    95000: "invalid open_kfid",
    95001: "send msg count limit",
    95007: "invalid msg token",
    95013: "session is ended or expired",
    95016: "invalid service_state transition",
    95018: "session state does not allow sending by api",
}


@dataclass
class _Customer:
    external_userid: str
    nickname: str
    avatar: str
    last_message_at: datetime | None = None
    replies: int = 0
    state: int = 0


@dataclass
class _Item:
    seq: int
    at: datetime
    open_kfid: str
    body: dict[str, Any]


@dataclass
class _Failure:
    errcode: int
    path: str


@dataclass
class FakeState:
    tokens: dict[str, datetime] = field(default_factory=dict)
    notice_tokens: dict[str, datetime] = field(default_factory=dict)
    welcome_codes: dict[str, tuple[datetime, str, str]] = field(default_factory=dict)


class FakeWeCom:
    """State of one fake WeCom corp's 微信客服 plus the `.app` serving it.

    Tests read `sent` (accepted send_msg bodies), `welcomes`, `sync_calls`,
    `token_requests`; they steer it with `customer_writes`, `customer_enters`,
    `servicer_writes`, `fail_delivery`, `fail_next`, `empty_pages`, `advance`,
    `invalidate_tokens`, `add_media`.
    """

    def __init__(
        self,
        *,
        corp_id: str = "ww0123456789abcdef",
        secret: str = "fake-kf-secret",  # noqa: S107 - a fake's credential
        token: str = "huiliuWeComToken",  # noqa: S107
        aes_key: str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        open_kfids: tuple[str, ...] = ("wkHUILIU0000000000000000000001",),
        token_ttl: int = TOKEN_TTL,
        start: datetime | None = None,
    ) -> None:
        self.corp_id, self.secret, self.token, self.aes_key = corp_id, secret, token, aes_key
        self.open_kfids = list(open_kfids)
        self.token_ttl = token_ttl
        self.start = start
        self.offset = timedelta(0)
        self.sent: list[dict[str, Any]] = []
        self.welcomes: list[dict[str, Any]] = []
        self.sync_calls: list[dict[str, Any]] = []
        self.token_requests: list[dict[str, Any]] = []
        self.uploads: list[str] = []
        self._state = FakeState()
        self._customers: dict[str, _Customer] = {}
        self._items: list[_Item] = []
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._sent_ids: dict[str, str] = {}
        self._failures: deque[_Failure] = deque()
        self._empty_pages = 0
        self._media: dict[str, tuple[bytes, str, str | None]] = {}
        self.app = self._build_app()

    # --- clock and steering -----------------------------------------------------------

    def now(self) -> datetime:
        return (self.start or datetime.now(UTC)) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}{secrets.token_hex(4)}"

    def customer(self, external_userid: str, nickname: str | None = None) -> _Customer:
        known = self._customers.get(external_userid)
        if known is None:
            known = self._customers[external_userid] = _Customer(
                external_userid,
                nickname or f"微信用户{external_userid[-4:]}",
                f"https://wx.qlogo.cn/mmhead/{external_userid}/0",
            )
        elif nickname:
            known.nickname = nickname
        return known

    def _append(self, open_kfid: str, body: dict[str, Any]) -> str:
        msgid = body["msgid"]
        self._items.append(_Item(next(self._seq), self.now(), open_kfid, body))
        return msgid

    def customer_writes(
        self,
        external_userid: str,
        text: str | None = None,
        *,
        open_kfid: str | None = None,
        msgtype: str = "text",
        payload: dict[str, Any] | None = None,
        nickname: str | None = None,
    ) -> str:
        """A customer message (origin 3); opens the 48-hour window. Returns its msgid."""
        kfid = open_kfid or self.open_kfids[0]
        who = self.customer(external_userid, nickname)
        who.last_message_at, who.replies = self.now(), 0
        if who.state == 4:
            who.state = 0  # a customer writing again starts a new session
        content = payload if payload is not None else {"content": text or ""}
        return self._append(
            kfid,
            {
                "msgid": self._next_id("msg"),
                "open_kfid": kfid,
                "external_userid": external_userid,
                "send_time": int(self.now().timestamp()),
                "origin": 3,
                "msgtype": msgtype,
                msgtype: content,
            },
        )

    def customer_enters(
        self, external_userid: str, *, open_kfid: str | None = None, scene: str = "demo"
    ) -> str:
        """enter_session with a fresh welcome_code (origin 4). Returns the code."""
        kfid = open_kfid or self.open_kfids[0]
        self.customer(external_userid)
        code = secrets.token_hex(8)
        self._state.welcome_codes[code] = (self.now() + WELCOME_TTL, kfid, external_userid)
        event = {
            "event_type": "enter_session",
            "open_kfid": kfid,
            "external_userid": external_userid,
            "scene": scene,
            "scene_param": "",
            "welcome_code": code,
        }
        self._append(kfid, self._event(event))
        return code

    def servicer_writes(self, external_userid: str, text: str, servicer: str = "zhangsan") -> str:
        """A servicer replying from the WeCom client (origin 5)."""
        kfid = self.open_kfids[0]
        return self._append(
            kfid,
            {
                "msgid": self._next_id("svc"),
                "open_kfid": kfid,
                "external_userid": external_userid,
                "send_time": int(self.now().timestamp()),
                "origin": 5,
                "servicer_userid": servicer,
                "msgtype": "text",
                "text": {"content": text},
            },
        )

    def fail_delivery(self, msgid: str, fail_type: int) -> None:
        """A message accepted by send_msg was not delivered: queue msg_send_fail."""
        sent = next(b for b in self.sent if b["msgid"] == msgid)
        event = {
            "event_type": "msg_send_fail",
            "open_kfid": sent["open_kfid"],
            "external_userid": sent["touser"],
            "fail_msgid": msgid,
            "fail_type": fail_type,
        }
        self._append(sent["open_kfid"], self._event(event))

    def add_event(self, event: dict[str, Any], open_kfid: str | None = None) -> str:
        return self._append(open_kfid or self.open_kfids[0], self._event(event))

    def _event(self, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "msgid": self._next_id("evt"),
            "send_time": int(self.now().timestamp()),
            "origin": 4,
            "msgtype": "event",
            "event": event,
        }

    def fail_next(self, path: str, errcode: int, count: int = 1) -> None:
        """The next `count` calls to `path` (e.g. "/cgi-bin/kf/sync_msg") answer errcode."""
        self._failures.extend(_Failure(errcode, path) for _ in range(count))

    def empty_pages(self, count: int) -> None:
        """The next `count` sync_msg pages are empty with has_more 1 (it happens, §3)."""
        self._empty_pages += count

    def add_media(self, content: bytes, mime: str, file_name: str | None = None) -> str:
        media_id = self._next_id("media")
        self._media[media_id] = (content, mime, file_name)
        return media_id

    def invalidate_tokens(self) -> None:
        """Every access token issued so far answers 40014."""
        self._state.tokens.clear()

    def expire_tokens(self) -> None:
        """Every access token issued so far answers 42001 (expired)."""
        for token in self._state.tokens:
            self._state.tokens[token] = self.now() - timedelta(seconds=1)

    # --- the callback WeCom POSTs -----------------------------------------------------

    def notice(self, open_kfid: str | None = None) -> tuple[dict[str, str], bytes]:
        """The encrypted kf_msg_or_event notice: (query, body) for the webhook."""
        kfid = open_kfid or self.open_kfids[0]
        msg_token = "ENC" + secrets.token_urlsafe(30)
        self._state.notice_tokens[msg_token] = self.now() + NOTICE_TOKEN_TTL
        timestamp = str(int(self.now().timestamp()))
        inner = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[kf_msg_or_event]]></Event>"
            f"<Token><![CDATA[{msg_token}]]></Token><OpenKfId><![CDATA[{kfid}]]></OpenKfId></xml>"
        )
        return self.encrypt(inner)

    def verification(self, echo: str = "1616140317555161061") -> dict[str, str]:
        """The signed GET WeCom sends when the callback URL is saved (encrypted echostr)."""
        encrypted = crypto.encrypt(echo, crypto.aes_key(self.aes_key), self.corp_id)
        return {**self._signed(encrypted), "echostr": encrypted}

    def encrypt(self, inner: str) -> tuple[dict[str, str], bytes]:
        """Any decrypted callback body, encrypted and signed as WeCom POSTs it."""
        encrypted = crypto.encrypt(inner, crypto.aes_key(self.aes_key), self.corp_id)
        body = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
        )
        return self._signed(encrypted), body.encode()

    def _signed(self, encrypted: str) -> dict[str, str]:
        timestamp = str(int(self.now().timestamp()))
        nonce = str(secrets.randbelow(10**9))
        signature = crypto.sign(self.token, timestamp, nonce, encrypted)
        return {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}

    # --- API behaviour ----------------------------------------------------------------

    def _token_error(self, token: str) -> int:
        if not token:
            return 41001
        expires = self._state.tokens.get(token)
        if expires is None:
            return 40014
        return 42001 if self.now() >= expires else 0

    def _injected(self, path: str) -> int:
        for failure in self._failures:
            if failure.path == path:
                self._failures.remove(failure)
                return failure.errcode
        return 0

    def gettoken(self, corpid: str, corpsecret: str) -> dict[str, Any]:
        self.token_requests.append({"corpid": corpid, "at": self.now()})
        if corpid != self.corp_id:
            return _err(40013)
        if corpsecret != self.secret:
            return _err(40001)
        token = "FAKE_KF_TOKEN_" + secrets.token_hex(12)
        self._state.tokens[token] = self.now() + timedelta(seconds=self.token_ttl)
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}

    def sync_msg(self, body: dict[str, Any]) -> dict[str, Any]:
        self.sync_calls.append(dict(body))
        limit = body.get("limit", PAGE_MAX)
        if not isinstance(limit, int) or not 1 <= limit <= PAGE_MAX:
            return _err(40058)
        msg_token = body.get("token")
        if msg_token:
            expires = self._state.notice_tokens.get(str(msg_token))
            if expires is None or self.now() >= expires:
                return _err(95007)
        kfid = body.get("open_kfid")
        if kfid and kfid not in self.open_kfids:
            return _err(95000)
        start = _cursor_seq(str(body.get("cursor") or ""))
        if start is None:
            return _err(40058)
        if self._empty_pages:
            self._empty_pages -= 1
            return {
                "errcode": 0,
                "errmsg": "ok",
                "next_cursor": _cursor(start),
                "has_more": 1,
                "msg_list": [],
            }
        oldest = self.now() - HISTORY
        matching = [
            i
            for i in self._items
            if i.seq > start and (not kfid or i.open_kfid == kfid) and i.at >= oldest
        ]
        page = matching[:limit]
        last = page[-1].seq if page else max(start, max((i.seq for i in matching), default=0))
        return {
            "errcode": 0,
            "errmsg": "ok",
            "next_cursor": _cursor(last),
            "has_more": 1 if len(matching) > limit else 0,
            "msg_list": [i.body for i in page],
        }

    def send_msg(self, body: dict[str, Any]) -> dict[str, Any]:
        msgid = body.get("msgid") or self._next_id("out")
        if not isinstance(msgid, str) or not MSGID_RE.match(msgid):
            return _err(40058)
        if msgid in self._sent_ids:
            # The msgid is the idempotency key: a repeat is not sent twice.
            return {"errcode": 0, "errmsg": "ok", "msgid": msgid}
        kfid = body.get("open_kfid")
        if kfid not in self.open_kfids:
            return _err(95000)
        who = self._customers.get(str(body.get("touser")))
        if who is None or who.last_message_at is None:
            return _err(95013)
        msgtype = body.get("msgtype")
        content = body.get(msgtype) if isinstance(msgtype, str) else None
        if not isinstance(content, dict):
            return _err(40058)
        if msgtype == "text" and not str(content.get("content", "")).strip():
            return _err(44004)
        if msgtype == "msgmenu" and not _valid_menu(content):
            return _err(40058)
        if msgtype in ("image", "file", "voice", "video") and content.get("media_id") not in (
            self._media
        ):
            return _err(40007)
        if who.state in (2, 3, 4):
            return _err(95018)
        if who.replies >= WINDOW_QUOTA:
            return _err(95001)
        self._sent_ids[msgid] = kfid
        self.sent.append({**body, "msgid": msgid})
        who.replies += 1
        if self.now() - who.last_message_at > WINDOW:
            # Accepted, then refused asynchronously, as WeCom does (fail_type 4).
            self.fail_delivery(msgid, 4)
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def send_msg_on_event(self, body: dict[str, Any]) -> dict[str, Any]:
        code = str(body.get("code") or "")
        found = self._state.welcome_codes.pop(code, None)
        if found is None or self.now() >= found[0]:
            return _err(95007)
        self.welcomes.append({**body, "open_kfid": found[1], "touser": found[2]})
        return {"errcode": 0, "errmsg": "ok", "msgid": body.get("msgid") or self._next_id("w")}

    def service_state_get(self, body: dict[str, Any]) -> dict[str, Any]:
        who = self._customers.get(str(body.get("external_userid")))
        if who is None or body.get("open_kfid") not in self.open_kfids:
            return _err(95000)
        return {"errcode": 0, "errmsg": "ok", "service_state": who.state, "servicer_userid": ""}

    def service_state_trans(self, body: dict[str, Any]) -> dict[str, Any]:
        who = self._customers.get(str(body.get("external_userid")))
        if who is None or body.get("open_kfid") not in self.open_kfids:
            return _err(95000)
        target = body.get("service_state")
        if not isinstance(target, int) or target not in TRANSITIONS[who.state]:
            return _err(95016)
        if target == 3 and not body.get("servicer_userid"):
            return _err(40058)
        who.state = target
        return {"errcode": 0, "errmsg": "ok", "msg_code": secrets.token_hex(6)}

    def batchget(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = body.get("external_userid_list")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            return _err(40058)
        found = [self._customers[i] for i in ids if i in self._customers]
        return {
            "errcode": 0,
            "errmsg": "ok",
            "customer_list": [
                {
                    "external_userid": c.external_userid,
                    "nickname": c.nickname,
                    "avatar": c.avatar,
                    "gender": 0,
                    "unionid": "",
                }
                for c in found
            ],
            "invalid_external_userid": [i for i in ids if i not in self._customers],
        }

    # --- the app ----------------------------------------------------------------------

    def _build_app(self) -> FastAPI:  # noqa: C901 - one small route per endpoint
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        posts = {
            "/cgi-bin/kf/sync_msg": self.sync_msg,
            "/cgi-bin/kf/send_msg": self.send_msg,
            "/cgi-bin/kf/send_msg_on_event": self.send_msg_on_event,
            "/cgi-bin/kf/service_state/get": self.service_state_get,
            "/cgi-bin/kf/service_state/trans": self.service_state_trans,
            "/cgi-bin/kf/customer/batchget": self.batchget,
        }

        @app.get("/cgi-bin/gettoken")
        async def gettoken(corpid: str = "", corpsecret: str = "") -> Response:
            return _json(self.gettoken(corpid, corpsecret))

        @app.post("/cgi-bin/kf/{rest:path}")
        async def kf(rest: str, request: Request, access_token: str = "") -> Response:
            path = f"/cgi-bin/kf/{rest}"
            handler = posts.get(path)
            if handler is None:
                return Response(status_code=404)
            errcode = self._token_error(access_token) or self._injected(path)
            if errcode:
                return _json(_err(errcode))
            try:
                body = json.loads(await request.body())
            except (json.JSONDecodeError, UnicodeDecodeError):
                return _json(_err(40058))
            if not isinstance(body, dict):
                return _json(_err(40058))
            return _json(handler(body))

        @app.get("/cgi-bin/media/get")
        async def media_get(access_token: str = "", media_id: str = "") -> Response:
            errcode = self._token_error(access_token) or self._injected("/cgi-bin/media/get")
            if errcode:
                return _json(_err(errcode))
            media = self._media.get(media_id)
            if media is None:
                return _json(_err(40007))
            content, mime, name = media
            headers = {"Content-Disposition": f'attachment; filename="{name}"'} if name else {}
            return Response(content, media_type=mime, headers=headers)

        @app.post("/cgi-bin/media/upload")
        async def media_upload(
            request: Request, access_token: str = "", type: str = ""
        ) -> Response:  # noqa: A002
            errcode = self._token_error(access_token)
            if errcode:
                return _json(_err(errcode))
            if type not in ("image", "voice", "video", "file"):
                return _json(_err(40058))
            async with request.form() as form:
                upload = form.get("media")
                if upload is None or isinstance(upload, str):
                    return _json(_err(40058))
                content = await upload.read()
                mime = upload.content_type or "application/octet-stream"
                media_id = self.add_media(content, mime, upload.filename)
            self.uploads.append(media_id)
            return _json(
                {
                    "errcode": 0,
                    "errmsg": "ok",
                    "type": type,
                    "media_id": media_id,
                    "created_at": str(int(self.now().timestamp())),
                }
            )

        return app


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"c{seq}".encode()).decode().rstrip("=")


def _cursor_seq(cursor: str) -> int | None:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(raw[1:]) if raw.startswith("c") else None
    except (ValueError, UnicodeDecodeError):
        return None


def _err(errcode: int) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}


def _json(data: dict[str, Any]) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), media_type="application/json")


def _valid_menu(menu: dict[str, Any]) -> bool:
    """A msgmenu as kf/send_msg takes it: a list of {id, content} choices (ids <= 64 bytes)."""
    items = menu.get("list")
    return (
        isinstance(items, list)
        and 0 < len(items) <= 10
        and all(
            isinstance(i, dict)
            and isinstance(i.get("id"), str)
            and 0 < len(i["id"].encode()) <= 64
            and isinstance(i.get("content"), str)
            for i in items
        )
    )
