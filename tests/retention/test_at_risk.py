"""The at-risk list's first page: by score, then spend, ties across the page's edge."""

from __future__ import annotations

from typing import Any

from app.accounts.viewer import Viewer
from app.models import Contact, RetentionScore, User
from app.retention.overview import AT_RISK_ROWS, at_risk


async def test_first_page_orders_ties_by_spend_over_every_tied_customer(app: Any) -> None:
    n = AT_RISK_ROWS * 5  # more tied customers than any prefetch would hold
    async with app.state.services.db.session() as s:
        s.add_all(Contact(id=i, name=f"c{i}") for i in range(1, n + 2))
        await s.flush()
        # All tied at 60; spend grows with the id, so the biggest spenders come last by id.
        s.add_all(
            RetentionScore(contact_id=i, score=60, band="high", spend_365=f"{i * 10}.50")
            for i in range(1, n + 1)
        )
        s.add(RetentionScore(contact_id=n + 1, score=61, band="high", spend_365="9.00"))
    boss = Viewer(user=User(id=0, name="boss", role="supervisor"), channel_ids=None)
    async with app.state.services.db.session() as s:
        page = await at_risk(s, boss)
    ids = [row["contact"]["id"] for row in page]
    assert ids[0] == n + 1  # the higher score first, whatever it spends
    assert ids[1:] == list(range(n, n - AT_RISK_ROWS + 1, -1))
    assert page[1]["spend_365"] == f"{n * 10}.50"
