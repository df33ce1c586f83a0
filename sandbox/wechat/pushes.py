"""Pushes as WeChat sends them to a server URL, for tests and the demo simulator.

`build_push` signs (and in safe/compatible mode encrypts) an XML body exactly as
`channels.md` §1.2 and §1.4 describe; `message_xml` / `event_xml` write bodies in
WeChat's layout (strings in CDATA, numbers bare).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping

from channels.wechat.config import WeChatConfig
from channels.weixin import crypto
from channels.weixin.xmlbody import parse_xml

# The account's original ID (原始ID) that fake pushes are addressed to.
FAKE_ORIGINAL_ID = "gh_0123456789ab"


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside CDATA; split it across two sections as XML writers do.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def push_xml(fields: Mapping[str, str | int]) -> str:
    """A flat `<xml>` body: str values in CDATA, int values bare."""
    parts = [
        f"<{tag}>{value}</{tag}>" if isinstance(value, int) else f"<{tag}>{_cdata(value)}</{tag}>"
        for tag, value in fields.items()
    ]
    return "<xml>" + "".join(parts) + "</xml>"


def message_xml(
    openid: str,
    msg_type: str = "text",
    *,
    to_user: str = FAKE_ORIGINAL_ID,
    create_time: int | None = None,
    msg_id: int | None = None,
    **fields: str | int,
) -> str:
    """An ordinary message push, e.g. `message_xml("oUser", Content="你好")`."""
    head: dict[str, str | int] = {
        "ToUserName": to_user,
        "FromUserName": openid,
        "CreateTime": create_time if create_time is not None else int(time.time()),
        "MsgType": msg_type,
    }
    # MsgId is a 64-bit number (§1.2); a random one keeps simulated pushes distinct.
    tail: dict[str, str | int] = {"MsgId": msg_id if msg_id is not None else secrets.randbits(63)}
    return push_xml({**head, **fields, **tail})


def event_xml(
    openid: str,
    event: str,
    *,
    to_user: str = FAKE_ORIGINAL_ID,
    create_time: int | None = None,
    **fields: str | int,
) -> str:
    """An event push (no MsgId), e.g. `event_xml("oUser", "subscribe", EventKey="")`."""
    return push_xml(
        {
            "ToUserName": to_user,
            "FromUserName": openid,
            "CreateTime": create_time if create_time is not None else int(time.time()),
            "MsgType": "event",
            "Event": event,
            **fields,
        }
    )


def _signed_query(config: WeChatConfig, timestamp: str | None, nonce: str | None) -> dict[str, str]:
    ts = timestamp if timestamp is not None else str(int(time.time()))
    nc = nonce if nonce is not None else str(secrets.randbelow(10**10))
    signature = crypto.sign(config.token.get_secret_value(), ts, nc)
    return {"signature": signature, "timestamp": ts, "nonce": nc}


def build_verification(
    config: WeChatConfig,
    echostr: str | None = None,
    *,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The query of the console's server-URL check (GET); always plaintext (§1.1)."""
    query = _signed_query(config, timestamp, nonce)
    query["echostr"] = echostr if echostr is not None else str(secrets.randbits(63))
    return query


def build_push(
    config: WeChatConfig,
    xml: str | bytes,
    *,
    encrypt: bool = False,
    compatible: bool = False,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """(query params, body) of one POST push of `xml`, as WeChat would send it.

    encrypt=False: plaintext mode. encrypt=True: safe mode (body is ToUserName +
    Encrypt), or compatible mode with `compatible=True` (plain fields + Encrypt).
    The query is already URL-decoded: pass it as `params=`.
    """
    body = xml.encode("utf-8") if isinstance(xml, str) else xml
    fields = parse_xml(body)
    query = _signed_query(config, timestamp, nonce)
    # Real pushes also carry the sender's openid in the query (§1.2, "some deployments").
    query["openid"] = str(fields.get("FromUserName", ""))
    if not encrypt:
        return query, body
    key = config.aes_key_bytes()
    if key is None:
        raise ValueError("an encrypted push needs a config with aes_key")
    encrypted = crypto.encrypt(body, key, config.app_id)
    token = config.token.get_secret_value()
    query["encrypt_type"] = "aes"
    query["msg_signature"] = crypto.sign(token, query["timestamp"], query["nonce"], encrypted)
    element = f"<Encrypt>{_cdata(encrypted)}</Encrypt>"
    if compatible:
        text = body.decode("utf-8")
        cut = text.rindex("</xml>")
        return query, (text[:cut] + element + text[cut:]).encode("utf-8")
    to_user = _cdata(str(fields.get("ToUserName", "")))
    outer = f"<xml>\n<ToUserName>{to_user}</ToUserName>\n{element}\n</xml>"
    return query, outer.encode("utf-8")
