"""The `huiliu` command: each command's output, and one line on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REDIS_URL  # noqa: F401  (keeps env handling in one place)

# Every test runs the command in a subprocess (about a second each).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run(db_url: str, tmp_path: Path) -> Any:
    env = {
        **os.environ,
        "HUILIU_DATABASE_URL": db_url,
        "HUILIU_PUBLIC_URL": "https://huiliu.example.com",
        "HUILIU_SECRET_KEY": "cli-test-secret-key-0123456789abcdef",
        "PYTHONPATH": str(ROOT),
    }

    def go(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        code = (
            "import sys; from channels import registry; from tests.support import loopback;"
            "registry.CONNECTORS['test'] = loopback.connector;"
            "from app.cli import main; sys.exit(main(sys.argv[1:]))"
        )
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    return go


def test_user_token_channel_commands(run: Any) -> None:
    r = run(
        "user",
        "create",
        "--email",
        "Li@Example.com",
        "--name",
        "李娜",
        "--role",
        "agent",
        stdin="a-long-password\n",
    )
    assert r.returncode == 0, r.stderr
    user = json.loads(r.stdout)
    assert user["email"] == "li@example.com" and user["role"] == "agent" and user["active"]

    r = run("token", "create", "--email", "li@example.com")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["token"].startswith("hl_")

    r = run(
        "channel",
        "create",
        "test",
        "--name",
        "测试渠道",
        "--secret",
        "abc",
        "--tags",
        "vip",
        "--tags",
        "north",
    )
    assert r.returncode == 0, r.stderr
    channel = json.loads(r.stdout)
    assert channel["webhook_url"] == f"https://huiliu.example.com/webhooks/test/{channel['id']}"
    assert channel["name"] == "测试渠道" and channel["signature_header"] == "X-Test-Signature"

    r = run(
        "user",
        "create",
        "--email",
        "a@b.cn",
        "--name",
        "A",
        "--role",
        "agent",
        "--channels",
        str(channel["id"]),
        stdin="another-password\n",
    )
    assert r.returncode == 0 and json.loads(r.stdout)["channel_ids"] == [channel["id"]]


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (
            ("user", "create", "--email", "x@y.z", "--name", "X", "--role", "boss"),
            "unusual-pass-1\n",
            "invalid choice",
        ),
        (
            ("user", "create", "--email", "nope", "--name", "X", "--role", "agent"),
            "unusual-pass-1\n",
            "not an email",
        ),
        (
            ("user", "create", "--email", "x@y.z", "--name", "X", "--role", "agent"),
            "short\n",
            "at least 8",
        ),
        (
            ("user", "create", "--email", "x@y.z", "--name", "X", "--role", "agent"),
            "password1\n",
            "too common",
        ),
        (
            (
                "user",
                "create",
                "--email",
                "x@y.z",
                "--name",
                "X",
                "--role",
                "agent",
                "--channels",
                "1,a",
            ),
            "unusual-pass-1\n",
            "comma-separated",
        ),
        (
            (
                "user",
                "create",
                "--email",
                "x@y.z",
                "--name",
                "X",
                "--role",
                "agent",
                "--channels",
                "999",
            ),
            "unusual-pass-1\n",
            "no such channel",
        ),
        (("token", "create", "--email", "ghost@y.z"), "", "no user"),
        (("channel", "create", "martian", "--name", "M"), "", "unknown channel type"),
        (("channel", "create", "test", "--name", "T"), "", "--secret"),
        (
            ("channel", "create", "test", "--name", "T", "--secret", "a", "--bogus", "1"),
            "",
            "unknown option --bogus",
        ),
        (("channel", "create", "test", "--name", "T", "--secret"), "", "needs a value"),
        (("frobnicate",), "", "invalid choice"),
        (("user", "create", "--email", "x@y.z"), "", "required"),
        (("migrate", "--extra"), "", "unrecognized"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(
    run: Any, args: tuple[str, ...], stdin: str, needle: str
) -> None:
    r = run(*args, stdin=stdin)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0] and "Traceback" not in r.stderr


def test_duplicate_user_is_refused(run: Any) -> None:
    args = ("user", "create", "--email", "dup@x.cn", "--name", "D", "--role", "admin")
    assert run(*args, stdin="password-one\n").returncode == 0
    r = run(*args, stdin="password-two\n")
    assert r.returncode != 0 and "already exists" in r.stderr


def test_migrate_is_idempotent(run: Any) -> None:
    r = run("migrate")
    assert r.returncode == 0 and "up to date" in r.stdout


def test_demo_and_simulator_without_the_sandbox_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """The product never depends on sandbox/: without it, the two commands that load it
    by name refuse with a clear message instead of a traceback."""
    import importlib

    from app.cli import support

    real = importlib.import_module

    def without_sandbox(name: str, package: str | None = None) -> Any:
        if name.split(".")[0] == "sandbox":
            raise ModuleNotFoundError(f"No module named {name!r}", name="sandbox")
        return real(name, package)

    # present in a development checkout
    assert support.load_sandbox("simulator.simulator").Simulator
    monkeypatch.setattr(importlib, "import_module", without_sandbox)
    with pytest.raises(support.CliError, match="sandbox package"):
        support.load_sandbox("demo")
