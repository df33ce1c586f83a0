"""The HTTP side of the WeCom 微信客服 fake: each kf endpoint's answer and the app serving them.

`FakeWeCom` (fake.py) holds the corp's state and the steering tests use; this mixin
answers the calls the connector makes, as channels.md §3 describes them. Errors are
HTTP 200 with an errcode body, as WeCom answers.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections import deque
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response

if TYPE_CHECKING:
    from sandbox.wecom.fake import FakeState, _Customer, _Failure, _Item

# Only the last 3 days of messages are readable (§3).
HISTORY = timedelta(days=3)
# A customer message opens 48 hours for at most 5 replies (§3 table).
WINDOW = timedelta(hours=48)
WINDOW_QUOTA = 5
PAGE_MAX = 1000
MSGID_RE = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
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


class KfApi:
    """The kf endpoints over the state of a `FakeWeCom`."""

    corp_id: str
    secret: str
    token_ttl: int
    open_kfids: list[str]
    sent: list[dict[str, Any]]
    welcomes: list[dict[str, Any]]
    sync_calls: list[dict[str, Any]]
    token_requests: list[dict[str, Any]]
    uploads: list[str]
    _state: FakeState
    _customers: dict[str, _Customer]
    _items: list[_Item]
    _sent_ids: dict[str, str]
    _failures: deque[_Failure]
    _empty_pages: int
    _media: dict[str, tuple[bytes, str, str | None]]

    def now(self) -> datetime:
        raise NotImplementedError

    def _next_id(self, prefix: str) -> str:
        raise NotImplementedError

    def fail_delivery(self, msgid: str, fail_type: int) -> None:
        raise NotImplementedError

    def add_media(self, content: bytes, mime: str, file_name: str | None = None) -> str:
        raise NotImplementedError

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
