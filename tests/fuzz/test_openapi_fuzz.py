"""Schemathesis against /openapi.json, in-process, with a valid admin token: no 5xx, and
every answer agrees with the schema (schemathesis' response_schema_conformance check:
a documented status carries the documented body, e.g. 422 a list of field errors).

Every documented operation gets a bounded number of generated requests (valid and
edge-case parameters, bodies, cursors) against a workspace that has a channel, a
conversation with messages, an agent and an admin. Operations that can lock the
admin out (deactivating users, archiving channels) run last so they do not starve the
others of an authenticated caller.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from app.accounts.actions import create_api_token, create_user
from app.config import Settings
from app.db import Database
from app.inbox.actions.inbound import record_inbound_message
from app.main import create_app
from app.workspace import create_channel
from channels.base import ContentType, InboundContact, InboundMessage

EXAMPLES = int(os.environ.get("HUILIU_FUZZ_EXAMPLES", "20"))  # per operation; ~30 operations
LAST = ("/deactivate", "/archive")
INT32 = 2**31 - 1
# No operation is exempt: the export produces its first chunk before answering, so a
# filter the database refuses fails as a 4xx before any byte of a download is sent.
KNOWN_FAILS_IN_STREAM: set[tuple[str, str]] = set()


def unstorable(case: Any) -> bool:
    values = [*(case.path_parameters or {}).values(), *(case.query or {}).values()]
    return any(
        (isinstance(v, int) and not -INT32 <= v <= INT32) or (isinstance(v, str) and "\x00" in v)
        for v in values
    )


@pytest.fixture
async def admin_token(settings: Settings) -> AsyncIterator[str]:
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            channel = await create_channel(session, "test", "Fuzz", {"secret": "fuzz"})
            admin = await create_user(
                session, email="fuzz@example.com", name="Fuzz", role="admin", password="x" * 12
            )
            await create_user(
                session, email="agent@example.com", name="Agent", role="agent", password="x" * 12
            )
            for n in range(3):
                await record_inbound_message(
                    session,
                    channel,
                    InboundMessage(
                        external_id=f"f{n}",
                        contact=InboundContact(external_id="fuzz-customer", name="客户"),
                        content_type=ContentType.TEXT,
                        text=f"消息 {n}",
                    ),
                )
            token = await create_api_token(session, admin)
        yield token
    finally:
        await db.dispose()


def test_no_operation_answers_5xx_or_off_schema(settings: Settings, admin_token: str) -> None:
    app = create_app(settings, run_workers=False)
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        operations.sort(key=lambda op: any(op.path.endswith(s) for s in LAST))
        assert len(operations) >= 10
        headers = {"Authorization": f"Bearer {admin_token}"}
        failures: list[str] = []
        for operation in operations:
            strategy = operation.as_strategy()
            if (operation.method.upper(), operation.path) in KNOWN_FAILS_IN_STREAM:
                strategy = strategy.filter(lambda case: not unstorable(case))

            @given(case=strategy)
            @hypothesis_settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,  # the same requests every run: a failure reproduces
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                where = f"{case.method} {case.formatted_path} {case.query or ''}"
                try:
                    response = case.call(headers=headers)
                except Exception as exc:  # the in-process client re-raises what the app raised
                    raise AssertionError(f"{where} -> 500 ({type(exc).__name__}: {exc})") from exc
                assert response.status_code < 500, (
                    f"{where} -> {response.status_code}: {response.text[:300]}"
                )
                try:
                    case.validate_response(response, checks=[response_schema_conformance])
                except Exception as exc:  # schemathesis raises a FailureGroup
                    raise AssertionError(
                        f"{where} -> {response.status_code} disagrees with the schema: "
                        f"{response.text[:300]} ({str(exc)[:300]})"
                    ) from exc

            try:
                check()
            except AssertionError as exc:
                failures.append(str(exc))
        assert not failures, "\n\n".join(failures)
    finally:
        asgi.shutdown_lifespans()
