"""A local fake of the WeCom 微信客服 API, for tests, the demo and the bench.

`FakeWeCom(...).app` answers like qyapi.weixin.qq.com on the kf paths the connector
uses (channels.md §3): `gettoken` with the kf secret (tokens expire by a clock tests can
move; 40014 unknown, 42001 expired), `kf/sync_msg` (cursor, limit <= 1000, has_more,
only the last 3 days readable, the notice Token valid 10 minutes, messages sent through
send_msg not returned), `kf/send_msg` (msgid <= 32 bytes of [0-9a-zA-Z_-] and the
idempotency key, 48-hour window after the customer's last message and 5 replies in
it), `send_msg_on_event` (single-use welcome codes), `service_state/get|trans`,
`customer/batchget`, `media/get|upload`. Errors are HTTP 200 with an errcode body.
`notice()` builds the encrypted callback WeCom would POST to Huiliu. The endpoints'
behaviour is in api.py; here, the corp's state and how tests steer it.
"""

from __future__ import annotations

import itertools
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from channels.weixin import crypto
from sandbox.wecom.api import KfApi

TOKEN_TTL = 7200
# The notice's Token lets sync_msg be called for 10 minutes (§3).
NOTICE_TOKEN_TTL = timedelta(minutes=10)
# A welcome_code is usable once, within 20 seconds [doc 95122].
WELCOME_TTL = timedelta(seconds=20)


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


class FakeWeCom(KfApi):
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
