"""Smaller red-team findings: CSV cells that spreadsheets still read as formulas, the widget
script's server address, and search over decomposed (NFD) and zero-width-split text."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from typing import Any

import httpx
import pytest

from app.archive.export import _cell
from tests.conftest import push
from tests.widget.support import webchat_channel


@pytest.mark.parametrize(
    "value",
    ["=1+1", "\n=1+1", " =HYPERLINK(1)", "  +cmd", "\r\n@SUM(A1)", "\t-2", " \n =x", "-3"],
)
def test_cells_read_as_formulas_are_quoted(value: str) -> None:
    assert _cell(value) == "'" + value


@pytest.mark.parametrize("value", ["你好 =", "a=b", " plain", "", "2026-12-03"])
def test_ordinary_cells_are_left_alone(value: str) -> None:
    assert _cell(value) == value


async def test_csv_export_defuses_a_newline_or_space_before_a_formula(
    client: httpx.AsyncClient, factory: Any
) -> None:
    channel = await factory.channel()
    for i, text in enumerate(["\n=cmd|' /C calc'!A0", ' =HYPERLINK("http://evil")']):
        await push(client, channel, {"id": f"m{i}", "from": "c1", "text": text})
    admin = await factory.user("admin")
    r = await client.get("/api/v1/archive/export?format=csv", headers=admin["headers"])
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    contents = [row[-1] for row in rows[1:]]
    assert sorted(contents) == sorted(["'\n=cmd|' /C calc'!A0", '\' =HYPERLINK("http://evil")'])


async def test_widget_script_takes_its_server_address_from_the_settings(
    app: Any, client: httpx.AsyncClient
) -> None:
    ch = await webchat_channel(app)
    r = await client.get(f"/widget/{ch['id']}.js", headers={"Host": "evil.example"})
    preamble = r.text.index("})({") + len("})(")
    settings, _ = json.JSONDecoder().raw_decode(r.text, preamble)
    assert settings["base"] == app.state.services.settings.public_url
    assert "evil.example" not in r.text


async def test_search_finds_decomposed_and_zero_width_split_text(
    client: httpx.AsyncClient, factory: Any
) -> None:
    channel = await factory.channel()
    texts = {
        "nfd": unicodedata.normalize("NFD", "Café au lait 한국어"),
        "zw": "请帮我退\u200b款，refu\u200dnd 订单 A\u2060123",
    }
    for key, text in texts.items():
        await push(client, channel, {"id": key, "from": "c1", "text": text})
    admin = await factory.user("admin")

    async def found(q: str) -> list[str]:
        r = await client.get("/api/v1/search", params={"q": q}, headers=admin["headers"])
        assert r.status_code == 200
        return [item["message"]["content"] for item in r.json()["items"]]

    assert await found("café") == [texts["nfd"]]  # composed query, decomposed text
    assert await found(unicodedata.normalize("NFD", "café")) == [texts["nfd"]]
    assert await found("한국") == [texts["nfd"]]
    assert await found("退款") == [texts["zw"]]
    assert await found("refund") == [texts["zw"]]
    assert await found("a123") == [texts["zw"]]
    # The highlight wraps the whole decomposed word, marks included.
    r = await client.get("/api/v1/search", params={"q": "cafe\u0301"}, headers=admin["headers"])
    assert unicodedata.normalize("NFD", "<mark>Café</mark>") in r.json()["items"][0]["highlight"]
