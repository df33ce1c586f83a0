"""Whether the widget offers chat or the offline form: agents online on any process count
(agent_presence, refreshed by every process's heartbeat), not only this process's sockets."""

from __future__ import annotations

import asyncio

import pytest

from app.config import Settings
from app.main import create_app
from app.models import AgentPresence, utcnow_for_models
from tests.conftest import Factory
from tests.support.server import running


@pytest.mark.slow
async def test_an_agent_on_another_process_counts_as_online(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"assignment_sweep_seconds": 0.1}))
    async with running(app):
        widget, hub = app.state.services.widget, app.state.services.hub
        assert widget.agents_online(hub) is False  # nobody anywhere
        agent = await Factory(app).user("agent")
        async with asyncio.timeout(20):
            while not widget.agents_online(hub):  # noqa: ASYNC110 - polls a cached answer
                # Another process's heartbeat: this process holds no socket of this agent.
                async with app.state.services.db.session() as session:
                    await session.merge(
                        AgentPresence(user_id=agent["id"], last_seen_at=utcnow_for_models())
                    )
                await asyncio.sleep(0.1)
        assert not any(sub.user_id is not None for sub in hub.subscribers)
