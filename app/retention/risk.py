"""The risk score, factor by factor, exactly as CONTRACT section 11 defines it; pure.

Each factor that applies gives its points and a sentence with the numbers an agent
reads ("34 天未联系，平时约 12 天一次"); the score is their sum (at most 100).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from app.retention.periods import local_date

SILENCE_STEPS = ((3.0, 30), (2.0, 20), (1.5, 10))  # (times the usual gap, points)
DEFAULT_GAP_DAYS = 30.0  # customers with fewer than 3 interactions
FREQUENCY_DAYS = 90
FREQUENCY_POINTS = 15
UNANSWERED_HOURS = 24
UNANSWERED_DAYS = 90
UNANSWERED_POINTS = 20
LOW_CSAT_POINTS = 15
NEGATIVE_DAYS = 30
NEGATIVE_POINTS = 15
ORPHANED_POINTS = 5
HIGH, MEDIUM = 60, 30  # bands: >= 60 high, 30-59 medium, < 30 low


@dataclass
class RiskInput:
    """What the factors look at, for one customer, as of `now`."""

    interactions: list[datetime] = field(default_factory=list)  # sorted
    # Service failures: (when, "unanswered", hours a customer message waited for a reply,
    # more than 24) or (when, "slow_first_response", minutes, over the channel's target).
    service_failures: list[tuple[datetime, str, float]] = field(default_factory=list)
    last_rating: int | None = None
    complaint_words: list[str] = field(default_factory=list)
    orphaned: bool = False


def band(score: int) -> str:
    return "high" if score >= HIGH else "medium" if score >= MEDIUM else "low"


def _md(at: datetime) -> str:
    d = local_date(at)
    return f"{d.month} 月 {d.day} 日"


def silence(inter: list[datetime], now: datetime) -> dict[str, Any] | None:
    if not inter:
        return None
    days = (now - inter[-1]).total_seconds() / 86400
    if len(inter) < 3:
        gap = DEFAULT_GAP_DAYS
    else:
        gap = median(
            (b - a).total_seconds() / 86400 for a, b in zip(inter, inter[1:], strict=False)
        )
    gap = max(gap, 1.0)  # same-day bursts: a usual gap under a day reads as one day
    for times, points in SILENCE_STEPS:
        if days >= times * gap:
            return {
                "code": "silence",
                "points": points,
                "detail": f"{int(days)} 天未联系，平时约 {round(gap)} 天一次",
                "params": {"days": int(days), "gap_days": round(gap)},
            }
    return None


def frequency_drop(inter: list[datetime], now: datetime) -> dict[str, Any] | None:
    span = timedelta(days=FREQUENCY_DAYS)
    # `inter` is sorted: the counts in [now - 2 span, now - span) and [now - span, now)
    start, middle, end = (bisect_left(inter, t) for t in (now - 2 * span, now - span, now))
    recent, before = end - middle, middle - start
    if before == 0 or recent * 2 > before:
        return None
    return {
        "code": "frequency_drop",
        "points": FREQUENCY_POINTS,
        "detail": f"近 90 天互动 {recent} 次，之前 90 天 {before} 次",
        "params": {"recent": recent, "before": before},
    }


def unanswered(failures: list[tuple[datetime, str, float]], now: datetime) -> dict[str, Any] | None:
    recent = [f for f in failures if now - timedelta(days=UNANSWERED_DAYS) <= f[0] <= now]
    if not recent:
        return None
    at, kind, amount = max(recent, key=lambda f: f[0])
    if kind == "unanswered":
        detail = f"{_md(at)}的消息 {int(amount)} 小时无人回复"
    else:
        detail = f"{_md(at)}的会话首次回复用了 {int(amount)} 分钟，超过目标"
    return {
        "code": "unanswered",
        "points": UNANSWERED_POINTS,
        "detail": detail,
        "params": {"at": at.isoformat(), "kind": kind, "amount": int(amount), "count": len(recent)},
    }


def score(data: RiskInput, now: datetime) -> dict[str, Any]:
    """`{"score", "band", "factors"}` (CONTRACT section 11)."""
    factors = [
        f
        for f in (
            silence(data.interactions, now),
            frequency_drop(data.interactions, now),
            unanswered(data.service_failures, now),
        )
        if f
    ]
    if data.last_rating is not None and data.last_rating <= 2:
        factors.append(
            {
                "code": "low_csat",
                "points": LOW_CSAT_POINTS,
                "detail": f"上次评价 {data.last_rating} 星",
                "params": {"rating": data.last_rating},
            }
        )
    if data.complaint_words:
        words = "、".join(data.complaint_words[:5])
        factors.append(
            {
                "code": "negative",
                "points": NEGATIVE_POINTS,
                "detail": f"近 30 天的消息里有投诉用语：{words}",
                "params": {"words": data.complaint_words[:5]},
            }
        )
    if data.orphaned:
        factors.append(
            {
                "code": "orphaned",
                "points": ORPHANED_POINTS,
                "detail": "负责人已离职，未交接",
                "params": {},
            }
        )
    total = min(100, sum(f["points"] for f in factors))
    return {"score": total, "band": band(total), "factors": factors}
