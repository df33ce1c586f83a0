"""The string catalog (app/i18n): both languages say the same things, every key a page's
script or the widget asks for exists, and previews get their labels at display time."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.i18n import CATALOGS, LANGS, page_texts, preview, texts
from tests.web.support import sign_in, staff

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "frontend" / "static" / "js"


def _catalog(lang: str) -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads((CATALOGS / f"{lang}.json").read_text("utf-8"))
    return data


def test_every_language_has_the_same_sections_keys_and_placeholders() -> None:
    zh, en = _catalog("zh-CN"), _catalog("en")
    assert zh.keys() == en.keys()
    for section in zh:
        assert zh[section].keys() == en[section].keys(), section
        for key, text in zh[section].items():
            placeholders = set(re.findall(r"\{(\w+)\}", text))
            assert placeholders == set(re.findall(r"\{(\w+)\}", en[section][key])), key


def test_every_literal_key_the_pages_ask_for_exists() -> None:
    inbox = page_texts("zh-CN", "inbox")
    staff = page_texts("zh-CN", "inbox", "pages")
    missing = []
    for script in sorted(JS.glob("*.js")):
        source = script.read_text("utf-8")
        for fn, key in re.findall(r"\b(p?t)\(\"([a-z0-9_]+)\"", source):
            if key != "key" and key not in (staff if fn == "pt" else inbox):  # "key": docs
                missing.append(f"{script.name}: {fn}({key})")
    inbox_html = (ROOT / "frontend" / "templates" / "inbox.html").read_text("utf-8")
    for key in re.findall(r'data-i18n(?:-title)?="([a-z0-9_]+)"', inbox_html):
        if key not in inbox:
            missing.append(f"inbox.html: {key}")
    widget = (ROOT / "frontend" / "static" / "widget" / "widget.js").read_text("utf-8")
    for key in set(re.findall(r"\bT\.(\w+)", widget)):
        if key not in texts("zh-CN", "widget"):
            missing.append(f"widget.js: T.{key}")
    assert missing == []


def test_a_key_missing_in_english_falls_back_to_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    from app import i18n

    real = i18n._load

    def load(lang: str) -> dict[str, dict[str, str]]:
        data = real(lang)
        if lang == "en":
            return {**data, "inbox": {k: v for k, v in data["inbox"].items() if k != "send"}}
        return data

    monkeypatch.setattr(i18n, "_load", load)
    i18n.texts.cache_clear()
    try:
        assert i18n.texts("en", "inbox")["send"] == "发送"
        assert i18n.texts("en", "inbox")["save"] == "Save"
    finally:
        i18n.texts.cache_clear()


@pytest.mark.parametrize(
    ("kind", "text", "lang", "shown"),
    [
        ("text", "  退款进度？ ", "zh-CN", "退款进度？"),
        ("image", "", "zh-CN", "[图片]"),
        ("image", "", "en", "[Image]"),
        ("image", "caption", "zh-CN", "caption"),
        ("voice", "转写", "zh-CN", "[语音] 转写"),
        ("location", "Shanghai", "en", "[Location] Shanghai"),
        ("unsupported", "", "fr", "[暂不支持的消息]"),
        ("event", "", "zh-CN", ""),
        ("text", "长" * 300, "zh-CN", "长" * 120),
    ],
)
def test_preview(kind: str, text: str, lang: str, shown: str) -> None:
    assert preview(kind, text, lang) == shown


async def test_each_page_carries_its_words_in_its_language(
    client: httpx.AsyncClient, factory: Any
) -> None:
    admin = await staff(factory, "admin")
    await sign_in(client, admin["email"])
    for lang in LANGS:
        client.cookies.set("huiliu_lang", lang)
        for path, sections in (("/inbox", ("inbox",)), ("/archive", ("inbox", "pages"))):
            page = (await client.get(path)).text
            block = re.search(r'<script type="application/json" id="page-texts">(.*?)<', page)
            assert block, path
            assert json.loads(block.group(1)) == page_texts(lang, *sections), (path, lang)
    client.cookies.delete("huiliu_session")
    assert "Sign in · Huiliu" in (await client.get("/login")).text
