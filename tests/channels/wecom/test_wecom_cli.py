"""`huiliu channel create wecom ...` (CONTRACT section 12)."""

from __future__ import annotations

import json
from typing import Any

import pytest

AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
BASE = ("channel", "create", "wecom", "--name", "视频号客服", "--corp-id", "ww0123456789")


def test_create_wecom_channel_prints_its_webhook(run: Any) -> None:
    r = run(
        *BASE,
        "--secret",
        "kf-secret-123",
        "--token",
        "Tok3n",
        "--aes-key",
        AES_KEY,
        "--open-kfid",
        "wkAAA",
        "--open-kfid",
        "wkBBB",
    )
    assert r.returncode == 0, r.stderr
    channel = json.loads(r.stdout)
    assert channel["type"] == "wecom"
    assert channel["webhook_url"] == f"https://huiliu.example.com/webhooks/wecom/{channel['id']}"
    assert channel["corp_id"] == "ww0123456789"
    assert channel["open_kfid"] == ["wkAAA", "wkBBB"]
    assert "kf-secret-123" not in r.stdout and AES_KEY not in r.stdout
    one = run(*BASE, "--secret", "s", "--token", "t", "--aes-key", AES_KEY, "--open-kfid", "wk1")
    assert one.returncode == 0 and json.loads(one.stdout)["open_kfid"] == ["wk1"]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--secret", "s", "--token", "t"), "--aes-key"),
        (("--secret", "s", "--token", "t", "--aes-key", "tooshort"), "--aes-key"),
        (("--token", "t", "--aes-key", AES_KEY), "--secret"),
        (("--secret", "s", "--token", "t", "--aes-key", AES_KEY, "--agent-id", "1"), "--agent-id"),
    ],
)
def test_bad_wecom_options_exit_with_one_line(
    run: Any, extra: tuple[str, ...], needle: str
) -> None:
    r = run(*BASE, *extra)
    assert r.returncode != 0
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
