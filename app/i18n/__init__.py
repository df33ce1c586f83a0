"""The product's words: one catalog per language (`zh-CN.json`, `en.json` next to this
module), in sections: `inbox` (the inbox page's script), `pages` (archive, admin, audit),
`login`, `widget` (baked into the widget script) and `preview` (the labels of non-text
messages in conversation previews). Every page gets its sections from here; nothing else
holds a translation. `{name}` placeholders are filled by the caller."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

DEFAULT_LANG = "zh-CN"
LANGS = ("zh-CN", "en")
CATALOGS = Path(__file__).resolve().parent


@cache
def _load(lang: str) -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads(
        (CATALOGS / f"{lang}.json").read_text(encoding="utf-8")
    )
    return data


@cache
def texts(lang: str, section: str) -> dict[str, str]:
    """One section in `lang`; a key the language lacks falls back to Chinese, the default."""
    base = _load(DEFAULT_LANG)[section]
    if lang == DEFAULT_LANG or lang not in LANGS:
        return dict(base)
    return {**base, **_load(lang).get(section, {})}


def page_texts(lang: str, *sections: str) -> dict[str, str]:
    """What a page's script reads (its JSON data block): the sections merged, later ones
    winning, with the preview labels as `preview_<type>`."""
    merged = {f"preview_{k}": v for k, v in texts(lang, "preview").items()}
    for section in sections:
        merged.update(texts(lang, section))
    return merged


# The content types whose preview carries a label (channels.base.ContentType values), and
# those whose label stays in front of the message's own text.
PREVIEW_LABELS = ("image", "voice", "video", "file", "location", "link", "unsupported")
LABEL_AND_TEXT = frozenset({"voice", "location", "link"})
PREVIEW_CHARS = 120


def preview(content_type: str, text: str, lang: str = DEFAULT_LANG) -> str:
    """A conversation's one-line preview of its last message, made at display time: its text,
    or the label of its type, or both (`[位置] 上海市…`)."""
    text = text.strip()
    label = texts(lang, "preview").get(content_type, "") if content_type in PREVIEW_LABELS else ""
    with_text = label and text and content_type in LABEL_AND_TEXT
    body = f"{label} {text}" if with_text else text or label
    return body[:PREVIEW_CHARS]
