"""A realistic CRM history for the customers and retention benches, written in bulk.

`seed_crm(url)` fills a freshly migrated database (it migrates it) with:

- `agents` agents (two of them deactivated without a successor, their customers
  orphaned) and three channels (two WeChat accounts, one Douyin), each with service
  settings (a first-response target, CSAT on);
- `customers` contacts: most known by one identity (some by two, on two channels),
  a tenth known only by orders (a phone number); owners, follow-up cadences,
  birthdays, a few marked lost by an agent (with the audit row churn reads);
- `orders` orders over the past two years, skewed (a fifth of the buyers hold most
  of the spend), a few unmatched;
- `conversations` conversations and `messages` messages over the past year, each
  customer active from a first day to (for about a third) a day they went quiet:
  inbound and outbound turns, first responses from seconds to days, some
  conversations never answered, a few complaint words, WeChat unsubscribe events
  (hard churn) after some customers' last messages;
- `conversation_facts` consistent with those messages (counts, first response,
  resolution, CSAT asked and answered), what the service report and risk read;
- some tasks.

Rows go straight into the schema: COPY (asyncpg `copy_records_to_table`) on
PostgreSQL, `executemany` in large transactions on SQLite. Everything is drawn from
`random.Random(seed)` relative to `now` (default: the current second), so the same
arguments give the same database. Returns the counts, the agents' and channels' ids
and the seconds taken.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import sqlite3
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.bench.bench_support import counting, migrate, sqlite_path

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = 86400
CHUNK = 20_000
CUSTOMER_TEXTS = (
    "你好，我的订单什么时候发货？",
    "请问这款还有货吗",
    "快递显示已签收但我没有收到",
    "请问可以开发票吗？抬头是公司",
    "会员积分怎么兑换优惠券",
    "上次买的用完了，想再来两盒",
    "尺码偏大还是偏小？",
    "好的谢谢",
    "Hi, is this available in size M?",
)
COMPLAINTS = (
    "我要投诉，三天了还没人处理",
    "质量太差了，申请退款",
    "回复太慢了，再也不买了",
    "给你们差评",
)
AGENT_TEXTS = (
    "您好，已为您查询，明天发货",
    "有的亲，现在下单今天就能发",
    "抱歉给您添麻烦了，马上帮您处理",
    "可以的，请提供开票信息",
    "好的，已经为您备注",
)
LOST_REASONS = ("价格原因", "转向竞品", "不再需要", "服务不满意")
CHANNELS = (("wechat", "压测服务号"), ("wechat", "压测订阅号"), ("douyin", "压测抖音号"))
CHANNEL_WEIGHTS = (60, 25, 15)
FIRST_RESPONSE_MINUTES = (5, 10, 30)


@dataclass
class Customer:
    id: int
    first_seen: datetime
    stop: datetime  # last day they were active (now for those still active)
    weight: float
    owner_id: int | None
    identities: list[int] = field(default_factory=list)  # identity ids
    inbound: list[datetime] = field(default_factory=list)
    last_order: date | None = None
    lost_at: datetime | None = None  # marked lost by an agent


@dataclass
class Conv:
    id: int
    customer: Customer
    identity_id: int
    channel_id: int
    created: datetime
    # (seconds after `created`, kind): kind "in", "out" or "event".
    turns: list[tuple[int, str]] = field(default_factory=list)
    agent_id: int | None = None


@dataclass
class Plan:
    rng: random.Random
    now: datetime
    agents: list[int]
    agent_names: dict[int, str]
    inactive: list[int]
    channels: list[int]
    customers: list[Customer] = field(default_factory=list)
    identity_channel: dict[int, int] = field(default_factory=dict)
    convs: list[Conv] = field(default_factory=list)
    identity_rows: list[tuple[Any, ...]] = field(default_factory=list)
    orders: list[tuple[Any, ...]] = field(default_factory=list)
    churn_events: int = 0


def _pick(rng: random.Random, cum: list[float], n: int) -> list[int]:
    """`n` indexes drawn with the cumulative weights `cum`."""
    total = cum[-1]
    return [bisect_left(cum, rng.random() * total) for _ in range(n)]


def _customers(p: Plan, n: int) -> None:
    rng, now = p.rng, p.now
    owners = p.agents
    for i in range(1, n + 1):
        first = now - timedelta(seconds=rng.randint(DAY, 730 * DAY))
        quiet = rng.random() < 0.35  # went quiet at some point
        stop = first + (now - first) * rng.random() if quiet else now
        weight = min(rng.paretovariate(1.3), 60.0)
        owner = owners[rng.randrange(len(owners))] if rng.random() < 0.85 else None
        p.customers.append(Customer(i, first, stop, weight, owner))


def _identities(p: Plan) -> Iterator[tuple[Any, ...]]:
    rng = p.rng
    cum = list(accumulate(CHANNEL_WEIGHTS))
    next_id = 0
    for c in p.customers:
        if rng.random() < 0.1:
            continue  # known only by orders
        first = bisect_left(cum, rng.random() * cum[-1])
        chosen = [first]
        if rng.random() < 0.15:
            chosen.append((first + 1 + rng.randrange(len(CHANNELS) - 1)) % len(CHANNELS))
        for ch in chosen:
            next_id += 1
            channel_id = p.channels[ch]
            c.identities.append(next_id)
            p.identity_channel[next_id] = channel_id
            prefix = "oCrm" if CHANNELS[ch][0] == "wechat" else "dyCrm"
            yield (
                next_id,
                c.id,
                channel_id,
                f"{prefix}{c.id:07d}x{ch}",
                f"客户{c.id}",
                None,
                False,
                "{}",
                c.first_seen,
            )


def _timeline(rng: random.Random, m: int, unanswered: bool, churn: bool) -> list[tuple[int, str]]:
    """A conversation's turns: the customer first, then replies and follow-ups."""
    turns: list[tuple[int, str]] = [(0, "in")]
    t = 0
    kinds = ["in"] * (m - 1) if unanswered else []
    if not unanswered:
        # Most answered within the channel's target (5-30 minutes), a few late, a few
        # next day (the risk score's "unanswered" factor).
        r = rng.random()
        if r < 0.85:
            t += rng.randint(10, 240)
        elif r < 0.95:
            t += rng.randint(240, 1800)
        elif r < 0.99:
            t += rng.randint(1800, 6 * 3600)
        else:
            t += rng.randint(DAY, 3 * DAY)
        turns.append((t, "out"))
        kinds = ["in" if rng.random() < 0.5 else "out" for _ in range(m - 2)]
    for kind in kinds:
        t += rng.randint(10, 1800)
        turns.append((t, kind))
    turns = turns[:m]
    if churn:  # the customer unsubscribes some days later
        t += rng.randint(3600, 20 * DAY)
        turns[-1] = (t, "event")
    return turns


def _conversations(p: Plan, n: int, messages: int) -> None:
    rng, now = p.rng, p.now
    year_ago = now - timedelta(days=365)
    chatters = [c for c in p.customers if c.identities and c.stop > year_ago]
    spans = [(max(c.first_seen, year_ago), c.stop) for c in chatters]
    cum = list(
        accumulate(
            c.weight * max((b - a).total_seconds(), DAY)
            for c, (a, b) in zip(chatters, spans, strict=True)
        )
    )
    counts = [max(1, min(40, int(rng.expovariate(1 / 8)) + 2)) for _ in range(n)]
    diff = messages - sum(counts)
    while diff:
        k = rng.randrange(n)
        step = 1 if diff > 0 else -1
        if 1 <= counts[k] + step <= 60:
            counts[k] += step
            diff -= step
    picks = _pick(rng, cum, n)
    # Hard churn: about 1 % of the customers who went quiet unsubscribed afterwards.
    churners = {c.id for c in chatters if c.stop < now - timedelta(days=30) and rng.random() < 0.03}
    drafts = []
    for k, idx in enumerate(picks):
        c = chatters[idx]
        a, b = spans[idx]
        created = a + (b - a) * rng.random()
        unanswered = rng.random() < 0.02
        ident = c.identities[0] if rng.random() < 0.8 else rng.choice(c.identities)
        turns = _timeline(rng, counts[k], unanswered, False)
        drafts.append((created, c, ident, turns))
    drafts.sort(key=lambda d: d[0])
    last_of: dict[int, int] = {}
    for i, (created, c, ident, turns) in enumerate(drafts, start=1):
        end = created + timedelta(seconds=turns[-1][0])
        if end > now - timedelta(minutes=1):
            created -= end - (now - timedelta(minutes=1))
        agent = c.owner_id if c.owner_id in p.agent_names else None
        if agent is None or agent in p.inactive:
            agent = p.agents[rng.randrange(len(p.agents) - len(p.inactive))]
        conv = Conv(i, c, ident, p.identity_channel[ident], created, turns, agent)
        p.convs.append(conv)
        last_of[c.id] = i
    for cid in churners & set(last_of):
        conv = p.convs[last_of[cid] - 1]
        if len(conv.turns) < 2:
            continue
        t = conv.turns[-2][0] + rng.randint(3600, 20 * DAY)
        if conv.created + timedelta(seconds=t) < now:
            conv.turns[-1] = (t, "event")
            p.churn_events += 1
    for conv in p.convs:
        for t, kind in conv.turns:
            if kind == "in":
                conv.customer.inbound.append(conv.created + timedelta(seconds=t))


def _orders(p: Plan, n: int, seed: int) -> None:
    rng, now = p.rng, p.now
    two_years = now - timedelta(days=730)
    buyers = [c for c in p.customers if c.id % 10 < 7 or not c.identities]
    spans = [(max(c.first_seen, two_years), c.stop) for c in buyers]
    cum = list(
        accumulate(
            c.weight * max((b - a).total_seconds(), DAY)
            for c, (a, b) in zip(buyers, spans, strict=True)
        )
    )
    drafts = []
    for idx in _pick(rng, cum, n):
        c = buyers[idx]
        a, b = spans[idx]
        day = (a + (b - a) * rng.random()).astimezone(SHANGHAI).date()
        amount = Decimal(str(round(min(math.exp(rng.gauss(5.0, 0.9)), 50_000.0), 2)))
        matched = rng.random() >= 0.02
        drafts.append((day, c if matched else None, amount))
    drafts.sort(key=lambda d: d[0])
    for i, (day, c, amount) in enumerate(drafts, start=1):
        if c is not None and (c.last_order is None or day > c.last_order):
            c.last_order = day
        at = datetime.combine(day, datetime.min.time(), SHANGHAI).astimezone(UTC)
        keys = "{}" if c else json.dumps({"phone": f"139{i:08d}"})
        source = "import" if i % 3 else "api"
        p.orders.append(
            (i, f"CRM{seed}-{i:07d}", c.id if c else None, day, amount, keys, source, at, at)
        )


def _contact_rows(p: Plan) -> Iterator[tuple[Any, ...]]:
    rng, now = p.rng, p.now
    for c in p.customers:
        last_in = max(c.inbound) if c.inbound else None
        last_order = (
            datetime.combine(c.last_order, datetime.min.time(), SHANGHAI).astimezone(UTC)
            if c.last_order
            else None
        )
        last = max((x for x in (last_in, last_order) if x), default=None)
        cadence = rng.choice((7, 14, 30, 60)) if rng.random() < 0.2 else None
        dates = (
            json.dumps(
                [{"label": "生日", "month": rng.randint(1, 12), "day": rng.randint(1, 28)}],
                ensure_ascii=False,
            )
            if rng.random() < 0.1
            else "[]"
        )
        lost = last is not None and last < now - timedelta(days=60) and rng.random() < 0.02
        if lost:
            assert last is not None
            c.lost_at = last + (now - last) * rng.random()
        yield (
            c.id,
            f"客户{c.id}",
            None,
            f"138{c.id:08d}" if rng.random() < 0.6 or not c.identities else None,
            None,
            "",
            "{}",
            c.first_seen,
            c.lost_at or last or c.first_seen,
            c.owner_id,
            cadence,
            dates,
            rng.random() < 0.3,
            last,
            last + timedelta(days=cadence) if cadence and last else None,
            None,
            "lost" if lost else "active",
            rng.choice(LOST_REASONS) if lost else None,
            c.lost_at,
            None,
        )


def _conversation_rows(p: Plan) -> Iterator[tuple[Any, ...]]:
    now = p.now
    last_of_identity: dict[int, int] = {}
    for conv in p.convs:
        last_of_identity[conv.identity_id] = conv.id
    for conv in p.convs:
        times = [conv.created + timedelta(seconds=t) for t, _ in conv.turns]
        ins = [at for at, (_, k) in zip(times, conv.turns, strict=True) if k == "in"]
        outs = [at for at, (_, k) in zip(times, conv.turns, strict=True) if k == "out"]
        recent = times[-1] > now - timedelta(days=2)
        open_ = recent and last_of_identity[conv.identity_id] == conv.id
        status = ("open" if conv.turns[-1][1] == "in" else "pending") if open_ else "resolved"
        resolved = None if open_ else min(times[-1] + timedelta(minutes=30), now)
        kind = conv.turns[-1][1]
        preview = (
            CUSTOMER_TEXTS[conv.id % len(CUSTOMER_TEXTS)]
            if kind == "in"
            else AGENT_TEXTS[conv.id % len(AGENT_TEXTS)]
            if kind == "out"
            else ""
        )
        yield (
            conv.id,
            conv.channel_id,
            conv.customer.id,
            conv.identity_id,
            conv.identity_id if open_ else None,
            status,
            conv.agent_id,
            conv.created,
            1 if open_ and kind == "in" else 0,
            preview,
            "event" if kind == "event" else "text",
            conv.created,
            resolved or times[-1],
            times[-1],
            ins[-1] if ins else None,
            outs[0] if outs else None,
            resolved,
            ins[-1] + timedelta(hours=48) if ins else None,
        )


def _message_rows(p: Plan, seed: int) -> Iterator[tuple[Any, ...]]:
    mid = 0
    for conv in p.convs:
        c = conv.customer
        agent_name = p.agent_names[conv.agent_id or p.agents[0]]
        for t, kind in conv.turns:
            mid += 1
            at = conv.created + timedelta(seconds=t)
            if kind == "out":
                yield (
                    mid,
                    conv.id,
                    conv.channel_id,
                    "outbound",
                    False,
                    "user",
                    conv.agent_id,
                    agent_name,
                    "text",
                    AGENT_TEXTS[mid % len(AGENT_TEXTS)],
                    "{}",
                    None,
                    "sent",
                    at,
                    at,
                )
                continue
            event = kind == "event"
            if event:
                text, extra = "", '{"event": "unsubscribe"}'
            elif mid % 37 == 0:
                text, extra = COMPLAINTS[mid % len(COMPLAINTS)], "{}"
            else:
                text, extra = CUSTOMER_TEXTS[mid % len(CUSTOMER_TEXTS)], "{}"
            yield (
                mid,
                conv.id,
                conv.channel_id,
                "inbound",
                False,
                "contact",
                c.id,
                f"客户{c.id}",
                "event" if event else "text",
                text,
                extra,
                f"crm{seed}-{mid}",
                "received",
                at,
                at,
            )


def _fact_rows(p: Plan) -> Iterator[tuple[Any, ...]]:
    rng, now = p.rng, p.now
    for conv in p.convs:
        times = [conv.created + timedelta(seconds=t) for t, _ in conv.turns]
        kinds = [k for _, k in conv.turns]
        n_in, n_out = kinds.count("in"), kinds.count("out")
        first_out = times[kinds.index("out")] if n_out else None
        first_s = int((first_out - conv.created).total_seconds()) if first_out else None
        recent = times[-1] > now - timedelta(days=2)
        resolved = None if recent else min(times[-1] + timedelta(minutes=30), now)
        asked = resolved if resolved and n_out else None
        score = rated = None
        if asked is not None and rng.random() < 0.35:
            score = rng.choices((1, 2, 3, 4, 5), (4, 4, 12, 30, 50))[0]
            rated = min(asked + timedelta(seconds=rng.randint(30, 7200)), now)
        agent = conv.agent_id if n_out else None
        yield (
            conv.id,
            conv.channel_id,
            conv.created,
            conv.created,
            n_in,
            n_out,
            first_out,
            first_s,
            first_s,
            agent,
            agent,
            resolved,
            int((resolved - conv.created).total_seconds()) if resolved else None,
            asked,
            score,
            None,
            rated,
            agent if score else None,
            False,
            False,
        )


def _task_rows(p: Plan, n: int) -> Iterator[tuple[Any, ...]]:
    rng, now = p.rng, p.now
    owned = [c for c in p.customers if c.owner_id is not None]
    for i in range(1, n + 1):
        c = owned[rng.randrange(len(owned))]
        kind = rng.choice(("follow_up", "care", "manual", "follow_up"))
        due = now + timedelta(seconds=rng.randint(-30 * DAY, 30 * DAY))
        done = due < now and rng.random() < 0.7
        created = due - timedelta(days=rng.randint(0, 14))
        yield (
            i,
            kind,
            f"回访客户{c.id}",
            c.id,
            None,
            c.owner_id,
            due,
            "done" if done else "open",
            "已联系" if done else None,
            "sweep" if kind != "manual" else "manual",
            None,
            None,
            0,
            created,
            due if done else created,
            due if done else None,
        )


def _audit_rows(p: Plan) -> Iterator[tuple[Any, ...]]:
    for uid in p.inactive:
        owned = [c.id for c in p.customers if c.owner_id == uid]
        details = json.dumps({"successor": None, "customers": owned})
        yield (None, "", "user.deactivated", "user", str(uid), details, p.now)
    for c in p.customers:
        if c.lost_at is not None:
            details = json.dumps({"from": "active", "to": "lost"})
            yield (
                c.owner_id,
                "",
                "contact.lifecycle_changed",
                "contact",
                str(c.id),
                details,
                c.lost_at,
            )


# Each table's columns, in the order its rows above give them.
COLUMNS: dict[str, list[str]] = {
    "contacts": (  # noqa: SIM905
        "id name avatar_url phone email notes attributes created_at updated_at owner_id "
        "follow_up_days important_dates marketing_consent last_interaction_at "
        "next_follow_up_at next_care_check_at lifecycle lost_reason "
        "lifecycle_changed_at merged_into_id"
    ).split(),
    "contact_identities": (  # noqa: SIM905
        "id contact_id channel_id external_id name avatar_url unreachable reply_context created_at"
    ).split(),
    "conversations": (  # noqa: SIM905
        "id channel_id contact_id identity_id active_identity_id status assignee_id "
        "assigned_at unread_count last_message_preview last_message_type created_at "
        "updated_at last_message_at last_inbound_at first_response_at resolved_at "
        "reply_window_expires_at"
    ).split(),
    "messages": (  # noqa: SIM905
        "id conversation_id channel_id direction private sender_type sender_id "
        "sender_name content_type content extra external_id delivery_status created_at "
        "sent_at"
    ).split(),
    "conversation_facts": (  # noqa: SIM905
        "conversation_id channel_id created_at first_inbound_at messages_in "
        "messages_out first_response_at first_response_s first_response_business_s "
        "first_response_agent_id last_agent_id resolved_at resolution_s csat_asked_at "
        "csat_score csat_comment csat_rated_at csat_agent_id greeted away_sent"
    ).split(),
    "orders": (  # noqa: SIM905
        "id order_no contact_id ordered_at amount match_keys source created_at updated_at"
    ).split(),
    "tasks": (  # noqa: SIM905
        "id kind title contact_id conversation_id assignee_id due_at status outcome "
        "source occasion_key created_by_id snoozed_count created_at updated_at "
        "closed_at"
    ).split(),
    "audit_log": "actor_id actor_name action object_type object_id details created_at".split(),  # noqa: SIM905
}
# Columns the rows above leave out, the same for every row.
CONSTANTS: dict[str, dict[str, Any]] = {
    "messages": {"attachments": "[]", "media_pending": False},
}


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, datetime):
        # As the application stores them (always .ffffff): a value without microseconds
        # sorts apart from an equal one written by the application (text comparison).
        return v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    return v


def _batches(rows: Iterable[tuple[Any, ...]], extra: tuple[Any, ...]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row + extra)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _tables(p: Plan, seed: int, tasks: int) -> Iterator[tuple[str, Iterable[tuple[Any, ...]]]]:
    """(table, rows) in foreign-key order; rows are generated as they are written."""
    yield "contacts", _contact_rows(p)
    yield "contact_identities", p.identity_rows
    yield "conversations", _conversation_rows(p)
    yield "messages", _message_rows(p, seed)
    yield "conversation_facts", _fact_rows(p)
    yield "orders", p.orders
    yield "tasks", _task_rows(p, tasks)
    yield "audit_log", _audit_rows(p)


async def _setup(url: str, agents: int) -> tuple[list[int], dict[int, str], list[int], list[int]]:
    """Agents and channels through the application (configs validated), with settings."""
    from sqlalchemy import insert, select

    from app.db import Database
    from app.models import ServiceSettings, User
    from app.workspace import create_channel

    db = Database(url)
    created = datetime.now(UTC) - timedelta(days=800)
    try:
        async with db.session() as session:
            channels = []
            for k, (kind, name) in enumerate(CHANNELS):
                if kind == "wechat":
                    config = {"app_id": f"wxcrm{k}", "app_secret": "s", "token": "benchtoken"}
                else:
                    config = {
                        "client_key": "crmbench",
                        "client_secret": "s",
                        "open_id": "crm-account",
                        "access_token": "a",
                        "refresh_token": "r",
                    }
                channel = await create_channel(session, kind, name, config)
                channels.append(channel.id)
                session.add(
                    ServiceSettings(
                        channel_id=channel.id,
                        holidays=[],
                        csat_enabled=True,
                        first_response_minutes=FIRST_RESPONSE_MINUTES[k],
                    )
                )
            emails = [f"crm-agent-{i}@bench.local" for i in range(1, agents + 1)]
            inactive_from = agents - max(1, agents // 25)  # 2 of 50 left the company
            await session.execute(
                insert(User),
                [
                    {
                        "email": e,
                        "name": f"客服{i:02d}",
                        "role": "agent",
                        "password_hash": None,
                        "active": i <= inactive_from,
                        "created_at": created,
                        "deactivated_at": None
                        if i <= inactive_from
                        else created + timedelta(days=700),
                    }
                    for i, e in enumerate(emails, start=1)
                ],
            )
            rows = (
                await session.execute(
                    select(User.id, User.name, User.active)
                    .where(User.email.in_(emails))
                    .order_by(User.id)
                )
            ).all()
    finally:
        await db.dispose()
    ids = [r[0] for r in rows]
    return ids, {r[0]: r[1] for r in rows}, [r[0] for r in rows if not r[2]], channels


def plan(
    agents: list[int],
    names: dict[int, str],
    inactive: list[int],
    channels: list[int],
    *,
    now: datetime,
    customers: int,
    orders: int,
    conversations: int,
    messages: int,
    seed: int,
) -> Plan:
    # Active agents first: conversations go to the active ones (those who left answer none).
    ordered = [a for a in agents if a not in inactive] + inactive
    p = Plan(random.Random(seed), now, ordered, names, inactive, channels)
    _customers(p, customers)
    p.identity_rows = list(_identities(p))
    _conversations(p, conversations, messages)
    _orders(p, orders, seed)
    return p


async def _write_pg(url: str, p: Plan, seed: int, tasks: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in counting("postgresql", False):  # the facts rows are written whole
            await conn.execute(statement)
        for table, rows in _tables(p, seed, tasks):
            const = CONSTANTS.get(table, {})
            names = list(COLUMNS[table]) + list(const)
            for batch in _batches(rows, tuple(const.values())):
                await conn.copy_records_to_table(table, records=batch, columns=names)
        # Ids were given: the next ones the application takes come after them.
        sequenced = [t for t in COLUMNS if COLUMNS[t][0] == "id"]
        await conn.execute(
            "; ".join(
                f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {t}), false)"
                for t in sequenced
            )
        )
        for statement in counting("postgresql", True):
            await conn.execute(statement)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def _write_sqlite(url: str, p: Plan, seed: int, tasks: int) -> None:
    conn = sqlite3.connect(sqlite_path(url))
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        for statement in counting("sqlite", False):  # the facts rows are written whole
            conn.execute(statement)
        for table, rows in _tables(p, seed, tasks):
            const = CONSTANTS.get(table, {})
            names = list(COLUMNS[table]) + list(const)
            sql = (
                f"INSERT INTO {table} ({', '.join(names)}) "  # noqa: S608 - our own names
                f"VALUES ({', '.join('?' * len(names))})"
            )
            for batch in _batches(rows, tuple(const.values())):
                conn.executemany(sql, [tuple(_sqlite_value(v) for v in row) for row in batch])
            conn.commit()
        for statement in counting("sqlite", True):
            conn.execute(statement)
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()


async def seed_crm(
    url: str,
    *,
    customers: int = 100_000,
    orders: int = 300_000,
    conversations: int = 100_000,
    messages: int = 1_000_000,
    agents: int = 50,
    seed: int = 1,
    tasks: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Migrate `url` (an empty database) and fill it; counts, ids and seconds taken."""
    started = time.perf_counter()
    await migrate(url)
    agent_ids, names, inactive, channels = await _setup(url, agents)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    p = plan(
        agent_ids,
        names,
        inactive,
        channels,
        now=now,
        customers=customers,
        orders=orders,
        conversations=conversations,
        messages=messages,
        seed=seed,
    )
    planned = time.perf_counter() - started
    n_tasks = customers // 20 if tasks is None else tasks
    if url.startswith("sqlite"):
        await asyncio.to_thread(_write_sqlite, url, p, seed, n_tasks)
    else:
        await _write_pg(url, p, seed, n_tasks)
    return {
        "customers": customers,
        "orders": orders,
        "conversations": len(p.convs),
        "messages": sum(len(c.turns) for c in p.convs),
        "hard_churn_events": p.churn_events,
        "marked_lost": sum(1 for c in p.customers if c.lost_at is not None),
        "tasks": n_tasks,
        "agents": agent_ids,
        "inactive_agents": inactive,
        "channels": channels,
        "now": now,
        "plan_seconds": planned,
        "seconds": time.perf_counter() - started,
    }


# Another name (HUILIU_BENCH_CRM_DB, "huiliu_bench..."): two checkouts benching at once.
PG_DB = os.environ.get("HUILIU_BENCH_CRM_DB", "huiliu_bench_crm")
RowsFn = Callable[[str, str, dict[str, Any]], Awaitable[list[str]]]


async def crm_part(
    kinds: list[str], workdir: Path, log: Callable[[str], None], runners: list[RowsFn]
) -> list[str]:
    """The bench's `crm` part: one seeded database per kind, then each module's rows
    (`runner(kind, url, seeded)` returns table rows) over it."""
    from tests.bench.bench_support import drop_pg_database, recreate_pg_database

    rows: list[str] = []
    for kind in kinds:
        if kind == "pg":
            url = await recreate_pg_database(PG_DB)
        else:
            workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any load
            url = f"sqlite+aiosqlite:///{workdir / 'crm.db'}"
        try:
            log(f"crm on {kind}: seeding")
            seeded = await seed_crm(url)
            log(f"crm on {kind}: seeded in {seeded['seconds']:.0f} s")
            rows.append(
                f"| CRM seed (`seed_crm`: {seeded['customers']:,} customers, {seeded['orders']:,} "
                f"orders, {seeded['conversations']:,} convs, {seeded['messages']:,} msgs) | {kind} "
                f"| {seeded['seconds']:.0f} s | | | |"
            )
            for runner in runners:
                found = await runner(kind, url, seeded)
                log(f"crm on {kind}: {found}")
                rows += found
        finally:
            if kind == "pg":
                await drop_pg_database(PG_DB)
    return rows
