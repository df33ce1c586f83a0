"""Customer text made storable: what a database cannot hold is replaced, never refused.

A lone UTF-16 surrogate (valid in a JSON escape, not encodable as UTF-8) makes SQLite and
PostgreSQL refuse the whole row, and PostgreSQL refuses NUL in text and JSON. Refusing
the push would answer an error on every platform retry and lose the customer's message,
so each such character becomes U+FFFD (the replacement character) and the message
records how many were replaced in `extra["replaced_characters"]`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from channels.base import InboundMessage

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean(text: str) -> tuple[str, int]:
    """`text` with NUL and lone surrogates replaced; and how many were."""
    return _UNSTORABLE.subn(REPLACEMENT, text)


def clean_value(value: Any) -> tuple[Any, int]:
    """Strings inside JSON-like values (dict keys too) cleaned; the replacements counted."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        total = 0
        for key, item in value.items():
            key, n = clean_value(key)
            out[key], m = clean_value(item)
            total += n + m
        return out, total
    if isinstance(value, list | tuple):
        items = [clean_value(item) for item in value]
        cleaned = [v for v, _ in items]
        return (cleaned if isinstance(value, list) else tuple(cleaned)), sum(n for _, n in items)
    return value, 0


def storable(inbound: InboundMessage) -> InboundMessage:
    """The message as the database can hold it (the same object when nothing needed it)."""
    text, n_text = clean(inbound.text)
    external_id, n_id = clean(inbound.external_id)
    contact, n_contact = _contact(inbound)
    extra, n_extra = clean_value(dict(inbound.extra))
    reply_context, n_reply = clean_value(dict(inbound.reply_context))
    media = tuple(
        dataclasses.replace(
            m,
            ref=clean(m.ref)[0],
            file_name=clean(m.file_name)[0] if m.file_name else m.file_name,
        )
        for m in inbound.media
    )
    replaced = n_text + n_id + n_contact + n_extra + n_reply
    replaced += sum(
        clean(m.ref)[1] + (clean(m.file_name)[1] if m.file_name else 0) for m in inbound.media
    )
    if not replaced:
        return inbound
    extra["replaced_characters"] = replaced
    return dataclasses.replace(
        inbound,
        text=text,
        external_id=external_id,
        contact=contact,
        extra=extra,
        reply_context=reply_context,
        media=media,
    )


def _contact(inbound: InboundMessage) -> tuple[Any, int]:
    c = inbound.contact
    external_id, n_id = clean(c.external_id)
    name, n_name = clean(c.name) if c.name is not None else (None, 0)
    avatar, n_avatar = clean(c.avatar_url) if c.avatar_url is not None else (None, 0)
    attributes, n_attr = clean_value(dict(c.attributes))
    total = n_id + n_name + n_avatar + n_attr
    if not total:
        return c, 0
    return (
        dataclasses.replace(
            c, external_id=external_id, name=name, avatar_url=avatar, attributes=attributes
        ),
        total,
    )
