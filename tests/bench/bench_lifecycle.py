"""The customers list by lifecycle, in process (issue 15): each lifecycle's first page,
scrolling by cursor, and its last page, timed around `list_customers` itself.

The HTTP rows (bench_customers) time first pages and a few scrolled ones; a lifecycle's
cost depended on where its customers sit in the recency order, so the slow pages were
the first of a lifecycle far down it (`lost`) and the last of a small one (the walk ran
to the end of the index). On a database seeded by seed_crm and scored (the retention
pass, so the lifecycles are real):

    python -m tests.bench.bench_lifecycle URL [first-page repeats] [pages scrolled]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from tests.bench.bench_support import SECRET_KEY, percentile

LIFECYCLES = ["new", "active", "at_risk", "lost", "recovered"]


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    p50, p95 = percentile(values, 50) * 1000, percentile(values, 95) * 1000
    return f"p50 {p50:.1f} p95 {p95:.1f} max {max(values) * 1000:.1f} ms"


async def lifecycles(url: str, repeats: int = 20, pages: int = 100) -> dict[str, Any]:
    os.environ.setdefault("HUILIU_SECRET_KEY", SECRET_KEY)
    from app.accounts.viewer import Viewer
    from app.contacts.customers_queries import list_customers
    from app.db import Database
    from app.models import User

    db = Database(url)
    viewer = Viewer(user=User(id=0, name="bench", role="supervisor"), channel_ids=None)

    async def page(lifecycle: str, cursor: str | None) -> tuple[float, str | None]:
        async with db.session() as session:
            t0 = time.perf_counter()
            _, nxt = await list_customers(
                session, viewer, q=None, owner=None, lifecycle=lifecycle, cursor=cursor, limit=50
            )
            return time.perf_counter() - t0, nxt

    out: dict[str, Any] = {}
    try:
        for lifecycle in LIFECYCLES:
            await page(lifecycle, None)  # warm-up
            first = [(await page(lifecycle, None))[0] for _ in range(repeats)]
            scroll: list[float] = []
            cursor = nxt = None
            for _ in range(pages):
                t, nxt = await page(lifecycle, cursor)
                scroll.append(t)
                if nxt is None:
                    break
                cursor = nxt
            # The last page again, when the scroll reached it.
            last = [(await page(lifecycle, cursor))[0] for _ in range(repeats)] if not nxt else []
            out[lifecycle] = {"first": first, "scroll": scroll, "last": last}
    finally:
        await db.dispose()
    return out


def main() -> None:
    url = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    pages = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    result = asyncio.run(lifecycles(url, repeats, pages))
    for lifecycle, r in result.items():
        print(
            f"{lifecycle:10} first {_ms(r['first'])} | scroll {_ms(r['scroll'])} "
            f"({len(r['scroll'])} pages) | last {_ms(r['last'])}"
        )
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
