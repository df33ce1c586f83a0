"""The layer rules (import-linter contracts in pyproject.toml) hold, and the check fails when
an import breaks one."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
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
    # Every other module the layers name exists but is empty: only the three imports above
    # run the wrong way.
    contracts = tomllib.loads(config)["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    for layer in layers:
        for name in re.split(r"[|:]", layer):
            module = name.strip().strip("()")
            path = "/".join(module.split(".")) + ".py"
            files.setdefault(path, "")
            for depth in range(1, module.count(".")):
                package = "/".join(module.split(".")[: depth + 1])
                files.setdefault(f"{package}/__init__.py", "")
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


def test_every_module_imports() -> None:
    """mypy is told to ignore missing imports (third-party stubs), so a stale import path
    inside the product would only show at run time: import every module now."""
    import importlib
    import pkgutil

    import app
    import channels
    import sandbox

    failed = []
    for package in (app, channels, sandbox):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            try:
                importlib.import_module(info.name)
            except Exception as exc:  # noqa: BLE001 - every failure is reported
                failed.append(f"{info.name}: {exc!r}")
    assert failed == []
