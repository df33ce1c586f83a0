"""The XML bodies of the WeChat family: a WeChat push, a WeCom callback notice, and the
encrypted envelope around either. Parsed without DTDs or entities, size and depth
capped, never echoing the parser's message."""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from channels.base import MalformedPayload

# A real push is a few KB; 1 MiB leaves room and bounds the parser's work (§1.6).
MAX_BODY_BYTES = 1024 * 1024
# Deepest nesting a push has is 4 (SendPicsInfo > PicList > item > PicMd5Sum, §1.2);
# anything much deeper is hostile and would exhaust the recursion below.
MAX_DEPTH = 16
Fields = dict[str, Any]  # tag -> text, or a nested dict / list for structured children
# Some senders pretty-print `<Tag> <![CDATA[value]]> </Tag>` (three corpus samples from
# WeRoBot's suite): the blanks outside the CDATA are layout, not part of the value. Only
# those are removed; whitespace inside a CDATA section is the customer's and is kept.
_CDATA_OPEN = re.compile(rb">[ \t\r\n]+<!\[CDATA\[")
_CDATA_CLOSE = re.compile(rb"\]\]>[ \t\r\n]+</")


def parse_xml(body: bytes) -> Fields:
    """The flat top level of a WeChat `<xml>` document; nested children stay nested."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedPayload("body too large")
    body = _CDATA_CLOSE.sub(b"]]></", _CDATA_OPEN.sub(b"><![CDATA[", body))
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        # Never echo the parser's message (§5.3).
        raise MalformedPayload("malformed XML") from exc
    if root.tag != "xml":
        raise MalformedPayload("root element is not <xml>")
    fields: Fields = {}
    for child in root:
        if child.tag in fields:
            # WeChat never repeats a top-level tag; a repeat is a forged or broken body (§1.6).
            raise MalformedPayload(f"duplicate <{child.tag}>")
        fields[child.tag] = _value(child, 1)
    return fields


def _value(element: Element, depth: int) -> Any:
    if len(element) == 0:
        return element.text or ""
    if depth >= MAX_DEPTH:
        raise MalformedPayload("XML nested too deep")
    nested: dict[str, Any] = {}
    for child in element:
        value = _value(child, depth + 1)
        if child.tag not in nested:
            nested[child.tag] = value
        elif isinstance(nested[child.tag], list):
            nested[child.tag].append(value)
        else:
            nested[child.tag] = [nested[child.tag], value]
    return nested
