"""Optional local count of replies per customer message (`max_replies_per_window`).

A window opens with each customer message, so the count is keyed by the reply
`msg_id` the send answers: a new customer message brings a new msg_id and a
fresh count. Entries older than the reply window are pruned on each write.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from channels.base import DeliveryError
from channels.douyin.wire import as_int

_KEY = "reply_counts"


def check(state: dict[str, Any], recipient: str, msg_id: str, limit: int) -> None:
    """Refuse (without retry) a reply beyond `limit` for this customer message."""
    entry = state.get(_KEY, {}).get(recipient)
    if isinstance(entry, dict) and entry.get("msg_id") == msg_id:
        count = as_int(entry.get("count")) or 0
        if count >= limit:
            raise DeliveryError(
                f"回复次数已达上限 / reply limit reached: {count} of {limit} replies "
                "to the customer's last message; wait for the customer to write again"
            )


def record(
    state: dict[str, Any], recipient: str, msg_id: str, now: datetime, window: timedelta
) -> None:
    """Count one sent reply and drop entries whose window has closed."""
    counts = state.get(_KEY)
    counts = dict(counts) if isinstance(counts, dict) else {}
    entry = counts.get(recipient)
    same = isinstance(entry, dict) and entry.get("msg_id") == msg_id
    count = (as_int(entry.get("count")) or 0) + 1 if same and isinstance(entry, dict) else 1
    counts[recipient] = {"msg_id": msg_id, "count": count, "at": now.isoformat()}
    state[_KEY] = {
        key: value
        for key, value in counts.items()
        if isinstance(value, dict) and _recent(value.get("at"), now, window)
    }


def _recent(value: Any, now: datetime, window: timedelta) -> bool:
    try:
        return isinstance(value, str) and now - datetime.fromisoformat(value) < window
    except ValueError:
        return False
