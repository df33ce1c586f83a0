"""The layer rules (import-linter contracts in pyproject.toml) hold, and the check fails when
an import breaks one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", "pyproject.toml"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_contracts_are_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_them(tmp_path: Path) -> None:
    """The same contracts on a copy of their shape: a connector importing the product, the
    product importing the sandbox, and a lower layer importing a higher one are all reported."""
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    # Without today's exceptions, which name modules this copy does not have.
    config = re.sub(r"ignore_imports = \[.*?\n\]", "ignore_imports = []", config, flags=re.S)
    (tmp_path / "pyproject.toml").write_text(config, encoding="utf-8")
    files = {
        "channels/__init__.py": "",
        "channels/base.py": "import app.models\n",
        "app/__init__.py": "",
        "app/models.py": "import app.inbox\n",
        "app/inbox.py": "import sandbox.fakes\n",
    }
    # The other layers exist but are empty: only the three imports above run the wrong way.
    layers = ("main", "cli", "web", "widget", "ingest", "media", "archive", "delivery")
    layers += ("workspace", "realtime", "accounts", "deps", "db", "config", "errors", "metrics")
    for name in (*layers, "i18n"):
        files[f"app/{name}.py"] = ""
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    result = lint_imports(tmp_path)
    out = result.stdout
    assert result.returncode != 0, out
    assert "channels import nothing from app or sandbox BROKEN" in out, out
    assert "app imports nothing from sandbox BROKEN" in out, out
    assert "the layers inside app run one way (top to bottom) BROKEN" in out, out
    assert "app.models is not allowed to import app.inbox" in out, out
