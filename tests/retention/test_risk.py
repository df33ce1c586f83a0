"""The risk score (CONTRACT section 11), factor by factor, and the complaint lexicon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.retention.lexicon import complaint_words
from app.retention.risk import RiskInput, band, score

NOW = datetime(2026, 12, 3, 4, tzinfo=UTC)


def days_ago(*ds: float) -> list[datetime]:
    return sorted(NOW - timedelta(days=d) for d in ds)


def codes(data: RiskInput) -> dict[str, int]:
    return {f["code"]: f["points"] for f in score(data, NOW)["factors"]}


def test_silence_against_the_customers_own_median_gap() -> None:
    # gaps of 10 days: median 10; silent 14 d (1.4x) nothing, 15 d 10, 20 d 20, 30 d 30
    for silent, points in ((14, None), (15, 10), (20, 20), (30, 30)):
        inter = days_ago(silent, silent + 10, silent + 20)
        assert codes(RiskInput(interactions=inter)).get("silence") == points
    f = score(RiskInput(interactions=days_ago(34, 46, 58)), NOW)["factors"][0]
    assert f["detail"] == "34 天未联系，平时约 12 天一次"
    # fewer than 3 interactions: a 30-day gap (45 d = 1.5x)
    assert codes(RiskInput(interactions=days_ago(45)))["silence"] == 10
    assert "silence" not in codes(RiskInput(interactions=days_ago(44)))


def test_frequency_drop_when_last_90_days_at_most_half() -> None:
    before = [100, 110, 120, 130]
    assert codes(RiskInput(interactions=days_ago(1, 5, *before)))["frequency_drop"] == 15
    assert "frequency_drop" not in codes(RiskInput(interactions=days_ago(1, 5, 9, *before)))
    assert "frequency_drop" not in codes(RiskInput(interactions=days_ago(1)))  # nothing before


def test_unanswered_low_csat_negative_orphaned_and_bands() -> None:
    at = datetime(2026, 3, 2, 2, tzinfo=UTC)  # 3 月 2 日 in Shanghai, 276 days ago
    failures = [(NOW - timedelta(days=10), "unanswered", 27.0), (at, "unanswered", 50.0)]
    data = RiskInput(
        interactions=days_ago(1, 2, 3),
        service_failures=failures,
        last_rating=1,
        complaint_words=["投诉", "退款"],
        orphaned=True,
    )
    got = score(data, NOW)
    assert {f["code"]: f["points"] for f in got["factors"]} == {
        "unanswered": 20,
        "low_csat": 15,
        "negative": 15,
        "orphaned": 5,
    }
    assert got["score"] == 55 and got["band"] == "medium"
    details = [f["detail"] for f in got["factors"]]
    assert "11 月 23 日的消息 27 小时无人回复" in details
    assert "上次评价 1 星" in details and "负责人已离职，未交接" in details
    # a failure older than 90 days does not count; a rating of 3 is not low
    assert codes(RiskInput(service_failures=[(at, "unanswered", 50.0)], last_rating=3)) == {}
    assert (band(59), band(60), band(30), band(29)) == ("medium", "high", "medium", "low")


def test_complaint_words_match_like_the_search() -> None:
    assert complaint_words("我要投诉！再也不买了") == ["投诉", "再也不"]
    assert complaint_words("打 １２３１５ 举报") == ["12315", "举报"]
    assert complaint_words("I want a REFUND") == ["refund"]
    assert complaint_words("refunds policy") == []  # whole words, as the search
    assert complaint_words("很满意，谢谢") == []


def test_lifecycle() -> None:
    from app.retention.lifecycle import lifecycle

    assert lifecycle(days_ago(5), [], NOW, "low") == "new"
    assert lifecycle(days_ago(5, 60), [], NOW, "low") == "active"
    assert lifecycle(days_ago(5, 60), [], NOW, "high") == "at_risk"
    assert lifecycle(days_ago(91, 120), [], NOW, "low") == "lost"  # W = 90 days of silence
    assert lifecycle(days_ago(5, 60), days_ago(2), NOW, "low") == "lost"  # hard churn
    assert lifecycle(days_ago(5, 200), [], NOW, "low") == "recovered"  # back after 195 days
    assert lifecycle(days_ago(5, 20, 60), days_ago(10), NOW, "low") == "recovered"
    assert lifecycle(days_ago(40, 200), [], NOW, "low") == "active"  # recovered 30 days only
    assert lifecycle(days_ago(91), [], NOW, "low", window_days=120) == "active"
