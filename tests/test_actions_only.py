"""Only action modules publish events (STYLE.md: zulip's `zerver/actions`).

An *action module* is a module named `actions.py` or any module inside an `actions/`
package (app/inbox/actions/). The publishing functions are `app.realtime.events.publish`,
`app.db.queue_event` (what publish calls) and the inbox's shorthands in
`app.inbox.actions.events`; the queued rows under `app.db.PENDING_EVENTS` are only db.py's to read.
The scan reads the source with `ast`, so it needs no import and catches a call however
the function was imported (a name, an alias, or an attribute of the imported module).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("app", "channels", "sandbox")

PUBLISHERS = {
    "app.realtime.events": {"publish"},
    "app.db": {"queue_event", "PENDING_EVENTS"},
    "app.inbox.actions.events": {"publish_message", "publish_conversation"},
}
# Where the publishing functions themselves are defined.
DEFINERS = {Path("app/db.py"), Path("app/realtime/events.py")}


def is_action_module(path: Path) -> bool:
    return path.name == "actions.py" or "actions" in path.parent.parts


def publisher_uses(source: str, module: str = "") -> list[tuple[int, str]]:
    """(line, name) of every use of a publishing function in `source`."""
    tree = ast.parse(source)
    names: dict[str, str] = {}  # local name -> publisher it stands for
    modules: dict[str, str] = {}  # local name -> publishing module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: resolve against this module's package
                parent = module.rsplit(".", node.level)[0]
                base = f"{parent}.{node.module}"
            for alias in node.names:
                local = alias.asname or alias.name
                if alias.name in PUBLISHERS.get(base, ()):
                    names[local] = f"{base}.{alias.name}"
                elif f"{base}.{alias.name}" in PUBLISHERS:
                    modules[local] = f"{base}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in PUBLISHERS:
                    modules[alias.asname or alias.name] = alias.name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names:
            found.append((node.lineno, names[node.id]))
        elif isinstance(node, ast.Attribute):
            owner = ast.unparse(node.value)
            publishing = modules.get(owner) or (owner if owner in PUBLISHERS else None)
            if publishing and node.attr in PUBLISHERS[publishing]:
                found.append((node.lineno, f"{publishing}.{node.attr}"))
    return found


def scanned_modules() -> list[Path]:
    paths = []
    for top in SCANNED:
        paths.extend(p.relative_to(ROOT) for p in (ROOT / top).rglob("*.py"))
    return sorted(paths)


def test_only_action_modules_publish() -> None:
    offenders = []
    publishing = set()
    for path in scanned_modules():
        module = ".".join(path.with_suffix("").parts)
        uses = publisher_uses((ROOT / path).read_text(encoding="utf-8"), module)
        if uses:
            publishing.add(path)
        if uses and not is_action_module(path) and path not in DEFINERS:
            offenders += [f"{path}:{line} uses {name}" for line, name in uses]
    assert not offenders, "publish from an action module instead:\n" + "\n".join(offenders)
    # The scan sees the real publishers (a scan that finds nothing proves nothing).
    assert Path("app/inbox/actions/inbound.py") in publishing
    assert Path("app/delivery/actions.py") in publishing


def test_the_scan_catches_every_spelling() -> None:
    spellings = {
        "from app.realtime.events import publish\npublish(s, t, d)": "app.realtime.events.publish",
        "from app.realtime.events import publish as p\np(s)": "app.realtime.events.publish",
        "from app.realtime import events\nevents.publish(s)": "app.realtime.events.publish",
        "import app.realtime.events\napp.realtime.events.publish(s)": (
            "app.realtime.events.publish"
        ),
        "from app import db\ndb.queue_event(s, {})": "app.db.queue_event",
        "from app.db import PENDING_EVENTS\ns.info[PENDING_EVENTS]": "app.db.PENDING_EVENTS",
        "from app.inbox.actions.events import publish_message\npublish_message(s)": (
            "app.inbox.actions.events.publish_message"
        ),
        "from .events import publish_conversation as pc\nawait pc(s)": (
            "app.inbox.actions.events.publish_conversation"
        ),
    }
    for source, name in spellings.items():
        uses = publisher_uses(source, "app.inbox.actions.example")
        assert name in [n for _line, n in uses], source
    # Not a publisher: Redis's publish, a local function of the same name.
    assert publisher_uses("await self._redis.publish('c', b'x')") == []
    assert publisher_uses("def publish():\n    pass\npublish()") == []


def test_action_modules_are_named_so() -> None:
    assert is_action_module(Path("app/delivery/actions.py"))
    assert is_action_module(Path("app/inbox/actions/inbound.py"))
    assert not is_action_module(Path("app/delivery/worker.py"))
    assert not is_action_module(Path("app/widget/visitors.py"))
