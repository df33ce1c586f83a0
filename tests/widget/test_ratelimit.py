"""The widget's in-memory token buckets."""

from __future__ import annotations

from app.widget.ratelimit import Rate, RateLimiter


def test_bucket_allows_a_burst_then_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(Rate(burst=3, per_second=0.5), clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == 2.0  # one token comes back every 2 s
    assert limiter.take("b") == 0.0  # keys are independent
    now[0] = 2.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    now[0] = 100.0
    assert [limiter.take("a") for _ in range(4)][-1] > 0  # never more than the burst


def test_idle_keys_are_forgotten_when_too_many() -> None:
    now = [0.0]
    limiter = RateLimiter(Rate(burst=1, per_second=1.0), max_keys=10, clock=lambda: now[0])
    for i in range(10):
        limiter.take(f"k{i}")
    now[0] = 5.0  # all refilled
    limiter.take("new")
    assert len(limiter._buckets) <= 10
    assert limiter.take("k0") == 0.0
