"""The HTTP face of the WeChat fake: one route per API path the connector calls.

Each route records the call where tests read it, checks the token, then lets the
account's state (`FakeWeChat`, fake.py) decide the answer. Errors are HTTP 200 with
an errcode body, as WeChat sends them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response

if TYPE_CHECKING:
    from sandbox.wechat.fake import FakeWeChat, _Media

# WeChat labels its JSON answers this way.
JSON_TYPE = "application/json; encoding=utf-8"

ERRMSG = {
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid file size",
    40007: "invalid media_id",
    40008: "invalid message type",
    40009: "invalid image size",
    40013: "invalid appid",
    40125: "invalid appsecret",
    41001: "access_token missing",
    41005: "media data missing",
    42001: "access_token expired",
    44004: "empty content",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
    -1: "system error",
}


def build_app(fake: FakeWeChat) -> FastAPI:
    """The app answering like api.weixin.qq.com over one fake account's state."""
    app = FastAPI(title="fake WeChat API", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/cgi-bin/token")
    async def token(grant_type: str = "", appid: str = "", secret: str = "") -> Response:
        fake.token_requests.append({"endpoint": "token", "appid": appid})
        error = fake.credentials_error(grant_type, appid, secret)
        if error:
            return _errcode(error)
        access_token, expires_in = fake.issue_token("classic")
        return _json({"access_token": access_token, "expires_in": expires_in})

    @app.post("/cgi-bin/stable_token")
    async def stable_token(request: Request) -> Response:
        data = json_object(await request.body())
        if data is None:
            return _errcode(47001)
        force = data.get("force_refresh") is True
        fake.token_requests.append(
            {"endpoint": "stable_token", "appid": data.get("appid"), "force_refresh": force}
        )
        error = fake.credentials_error(
            data.get("grant_type"), data.get("appid"), data.get("secret")
        )
        if error:
            return _errcode(error)
        access_token, expires_in = fake.stable_token(force)
        return _json({"access_token": access_token, "expires_in": expires_in})

    @app.post("/cgi-bin/message/custom/send")
    async def custom_send(request: Request, access_token: str = "") -> Response:
        body = await request.body()
        attempt: dict[str, Any] = {"access_token": access_token, "body": body, "at": fake.now()}
        fake.attempts.append(attempt)
        error = fake.token_error(access_token)
        failure = None if error else fake.next_failure()
        if failure is not None:
            attempt["errcode"] = failure.errcode
            if failure.http_status >= 400:
                return Response("fake upstream error", status_code=failure.http_status)
            return _errcode(failure.errcode, failure.errmsg, failure.http_status)
        error = error or fake.accept_send(body)
        attempt["errcode"] = error
        if error:
            return _errcode(error)
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        if fake.return_msgid:
            answer["msgid"] = 1_000_000 + len(fake.sent)
        return _json(answer)

    @app.post("/cgi-bin/message/custom/typing")
    async def custom_typing(request: Request, access_token: str = "") -> Response:
        call: dict[str, Any] = {"access_token": access_token, "at": fake.now()}
        fake.typing_calls.append(call)
        error = fake.token_error(access_token) or fake.accept_typing(await request.body(), call)
        call["errcode"] = error
        return _errcode(error) if error else _json({"errcode": 0, "errmsg": "ok"})

    @app.post("/cgi-bin/media/upload")
    async def media_upload(request: Request, access_token: str = "", type: str = "") -> Response:
        record: dict[str, Any] = {"access_token": access_token, "type": type, "at": fake.now()}
        fake.uploads.append(record)
        error = fake.token_error(access_token) or await fake.accept_upload(request, type, record)
        record["errcode"] = error
        if error:
            return _errcode(error)
        created_at = int(fake.now().timestamp())
        return _json({"type": type, "media_id": record["media_id"], "created_at": created_at})

    @app.get("/cgi-bin/media/get")
    async def media_get(request: Request, access_token: str = "", media_id: str = "") -> Response:
        error = fake.token_error(access_token)
        if error:
            return _errcode(error)
        media = fake.live_media(media_id)
        if media is None:
            return _errcode(40007)
        if media.as_video_url:
            return _json({"video_url": f"{request.base_url}_fake/files/{media_id}"})
        return _file(media)

    @app.get("/_fake/files/{media_id}")
    async def file(media_id: str) -> Response:
        # Stands in for WeChat's CDN (video_url and PicUrl links); no token needed.
        media = fake.stored_media(media_id)
        return Response(status_code=404) if media is None else _file(media)

    return app


def _json(data: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status_code=status, media_type=JSON_TYPE)


def _errcode(errcode: int, errmsg: str | None = None, status: int = 200) -> Response:
    message = errmsg if errmsg is not None else ERRMSG.get(errcode, "fake error")
    return _json({"errcode": errcode, "errmsg": f"{message} rid: fake"}, status)


def _file(media: _Media) -> Response:
    headers = {}
    if media.file_name:
        headers["Content-Disposition"] = f'attachment; filename="{media.file_name}"'
    return Response(media.content, media_type=media.content_type, headers=headers)


def json_object(body: bytes) -> dict[str, Any] | None:
    """A request body that is a JSON object, else None (WeChat answers 47001)."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
