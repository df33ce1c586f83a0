"""The set-based pass (app/retention/actions.py, batch by batch, a few queries each)
against a reference that reads one customer at a time and follows CONTRACT section 11
word by word: on random histories every stored score, band, factor (with its sentence
and numbers), lifecycle and tier must be the same, on full and incremental passes.

The histories hit the pass's edges: messages after `now` (ignored), ties on
`created_at` (broken by id), agent replies that are private or from the system (not
replies), events (neither interactions nor waiting), old agent replies, complaint words
in full-width forms and older than 30 days, first responses around each channel's
target, several ratings, agent lost marks and an owner who left.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from app.contacts.actions.churn import is_hard_churn
from app.models import (
    Contact,
    ContactIdentity,
    Conversation,
    ConversationFacts,
    Message,
    Order,
    RetentionScore,
    ServiceSettings,
    User,
    utcnow_for_models,
)
from app.retention.actions import refresh_scores
from app.retention.churn import money
from app.retention.lexicon import complaint_words_in
from app.retention.lifecycle import lifecycle
from app.retention.periods import local_date, local_midnight
from app.retention.queries import orphaned_ids
from app.retention.risk import RiskInput, score
from app.retention.tiers import high_value, rfm, tiers
from app.retention.worker import refresh_once

TEXTS = (
    "在吗",
    "好的谢谢",
    "我要投诉，太慢了",
    "打 １２３１５ 举报",
    "I want a REFUND",
    "refunds policy",
    "申请退款",
    "再也不买了，差评",
    "",
)


async def _world(app: Any, factory: Any, rng: random.Random, now: datetime) -> None:
    channels = [(await factory.channel(f"C{i}", f"s{i}"))["id"] for i in range(3)]
    agents = [(await factory.user("agent"))["id"] for _ in range(3)]
    owners = [*agents, None]

    def moment() -> datetime:
        # mostly the last 200 days (every window), some older, a few after `now`
        days = rng.choice((rng.uniform(0, 200), rng.uniform(0, 400), rng.uniform(-2, 0)))
        return now - timedelta(days=days, seconds=rng.choice((0, rng.randint(0, 86399))))

    async with app.state.services.db.session() as s:
        s.add(ServiceSettings(channel_id=channels[0], first_response_minutes=60))
        s.add(ServiceSettings(channel_id=channels[1], first_response_minutes=None))
        await s.execute(update(User).where(User.id == agents[2]).values(active=False))
        for c in range(60):
            contact = Contact(name=f"c{c}", owner_id=rng.choice(owners))
            if rng.random() < 0.08:
                contact.lifecycle, contact.lifecycle_changed_at = "lost", moment()
            s.add(contact)
            await s.flush()
            for k in range(rng.choice((0, 1, 1, 2, 3))):
                ch = rng.choice(channels)
                ident = ContactIdentity(
                    contact_id=contact.id, channel_id=ch, external_id=f"{c}-{k}"
                )
                s.add(ident)
                await s.flush()
                created = moment()
                answered = rng.random() < 0.7
                conv = Conversation(
                    channel_id=ch,
                    contact_id=contact.id,
                    identity_id=ident.id,
                    status="resolved",
                    created_at=created,
                    first_response_at=(
                        created + timedelta(minutes=rng.choice((1, 5, 6, 30, 61, 600)))
                        if answered
                        else None
                    ),
                )
                s.add(conv)
                await s.flush()
                if rng.random() < 0.4:
                    s.add(
                        ConversationFacts(
                            conversation_id=conv.id,
                            channel_id=ch,
                            created_at=created,
                            csat_score=rng.randint(1, 5),
                            csat_rated_at=created + timedelta(hours=rng.randint(1, 9999)),
                        )
                    )
                    # Before the messages: the database counts their customer messages
                    # onto this row as they are stored (app/service/inbound_counts.py).
                    await s.flush()
                # a third of the conversations talk in the last 30 days: customers with
                # several of them interleave (the complaint words' order, ties)
                at = now - timedelta(days=rng.uniform(0, 30)) if rng.random() < 0.33 else moment()
                for _ in range(rng.randint(0, 14)):
                    at = rng.choice((at, at + timedelta(hours=rng.choice((1, 20, 30, 100)))))
                    kind = rng.random()
                    inbound = kind < 0.55
                    event = inbound and kind < 0.06
                    sender = "contact"
                    if not inbound:
                        sender = "system" if kind > 0.95 else "user"
                    s.add(
                        Message(
                            conversation_id=conv.id,
                            channel_id=ch,
                            direction="inbound" if inbound else "outbound",
                            sender_type=sender,
                            private=not inbound and kind > 0.9,
                            content_type="event" if event else "text",
                            content="" if event else rng.choice(TEXTS),
                            extra=(
                                {"event": rng.choice(("unsubscribe", "subscribe"))} if event else {}
                            ),
                            created_at=at,
                        )
                    )
            for k in range(rng.choice((0, 0, 1, 2, 4))):
                s.add(
                    Order(
                        order_no=f"o{c}-{k}",
                        contact_id=contact.id,
                        ordered_at=local_date(moment()),
                        amount=Decimal(rng.randint(1, 99999)) / 100,
                    )
                )


def _waited(waiting: list[datetime], until: datetime, now: datetime) -> list[Any]:
    """A stretch of waiting counts once: its first message of the last 90 days that
    waited more than 24 hours for the agent reply at `until` (or until `now`)."""
    for at in waiting:
        hours = (until - at).total_seconds() / 3600
        if at >= now - timedelta(days=90) and hours > 24:
            return [(at, "unanswered", hours)]
    return []


async def _reference(session: Any, contact: Contact, now: datetime, orphaned: set[int]) -> Any:
    """One customer's risk and lifecycle, straight from CONTRACT section 11."""
    targets = dict(
        (
            await session.execute(
                select(ServiceSettings.channel_id, ServiceSettings.first_response_minutes)
            )
        ).all()
    )
    convs = list(
        await session.scalars(select(Conversation).where(Conversation.contact_id == contact.id))
    )
    inter: list[datetime] = []
    hard: list[datetime] = []
    failures: list[tuple[datetime, str, float]] = []
    recent_texts: list[tuple[datetime, int, str]] = []
    for conv in convs:
        msgs = await session.scalars(
            select(Message)
            .where(Message.conversation_id == conv.id, Message.created_at <= now)
            .order_by(Message.created_at, Message.id)
        )
        waiting: list[datetime] = []  # the customer's messages since the last agent reply
        for m in msgs:
            if m.direction == "inbound" and m.content_type == "event":
                if is_hard_churn(m.extra):
                    hard.append(m.created_at)
            elif m.direction == "inbound":
                inter.append(m.created_at)
                waiting.append(m.created_at)
                if m.created_at >= now - timedelta(days=30) and m.content:
                    recent_texts.append((m.created_at, m.id, m.content))
            elif m.sender_type == "user" and not m.private:
                failures += _waited(waiting, m.created_at, now)
                waiting = []
        failures += _waited(waiting, now, now)
        if conv.first_response_at is not None and conv.created_at >= now - timedelta(days=90):
            minutes = (conv.first_response_at - conv.created_at).total_seconds() / 60
            if minutes > (targets.get(conv.channel_id) or 5):
                failures.append((conv.created_at, "slow_first_response", minutes))
    rated = [
        (f.csat_rated_at, f.csat_score)
        for f in await session.scalars(
            select(ConversationFacts).where(
                ConversationFacts.conversation_id.in_([c.id for c in convs]),
                ConversationFacts.csat_score.is_not(None),
            )
        )
    ]
    for order in await session.scalars(select(Order).where(Order.contact_id == contact.id)):
        if local_midnight(order.ordered_at) <= now:
            inter.append(local_midnight(order.ordered_at))
    if contact.lifecycle == "lost" and contact.lifecycle_changed_at is not None:
        hard.append(contact.lifecycle_changed_at)
    data = RiskInput(
        interactions=sorted(inter),
        service_failures=failures,
        last_rating=max(rated)[1] if rated else None,
        complaint_words=complaint_words_in(t for _, _, t in sorted(recent_texts)),
        orphaned=contact.id in orphaned,
    )
    risk = score(data, now)
    return risk, lifecycle(data.interactions, sorted(hard), now, risk["band"])


async def _compare(app: Any, now: datetime, full: bool) -> set[str]:
    """Every customer's row against the reference; the factor codes and lifecycles seen."""
    seen: set[str] = set()
    async with app.state.services.db.session() as s:
        orphaned = await orphaned_ids(s)
        orders = (await s.execute(select(Order.contact_id, Order.ordered_at, Order.amount))).all()
        values = rfm(((c, d, a) for c, d, a in orders if c is not None), local_date(now))
        tier_of = tiers(values)
        top = high_value({c: v.monetary for c, v in values.items()})
        for contact in await s.scalars(select(Contact).order_by(Contact.id)):
            row = await s.get(RetentionScore, contact.id)
            assert row is not None
            risk, stage = await _reference(s, contact, now, orphaned)
            got = {"score": row.score, "band": row.band, "factors": row.factors}
            assert got == risk, contact.id
            assert row.lifecycle == stage, contact.id
            if full:
                assert row.tier == tier_of.get(contact.id), contact.id
                assert row.high_value == (contact.id in top), contact.id
                spend = values[contact.id].monetary if contact.id in values else Decimal(0)
                assert row.spend_365 == money(spend), contact.id
            seen.update(f["code"] for f in risk["factors"])
            seen.update(
                f"unanswered:{f['params']['kind']}"
                for f in risk["factors"]
                if f["code"] == "unanswered"
            )
            seen.add(stage)
        return seen


@pytest.mark.parametrize(("seed", "chunk"), [(1, 5000), (2, 1), (3, 5000)])
async def test_the_pass_scores_exactly_as_the_reference(
    app: Any, factory: Any, monkeypatch: Any, seed: int, chunk: int
) -> None:
    from app.retention import actions, inputs

    monkeypatch.setattr(actions, "BATCH", 7)  # many batches, and a short last one
    # 2: a batch's conversations read in several statements, merged in time order
    monkeypatch.setattr(inputs, "CHUNK", chunk)
    now = utcnow_for_models()
    rng = random.Random(seed)
    await _world(app, factory, rng, now)
    db = app.state.services.db
    assert await refresh_once(db, now, full=True) == 60
    seen = await _compare(app, now, full=True)
    # the next day's pass (the score rows exist: history, tier and band carried over)
    later = now + timedelta(days=1, hours=3)
    assert await refresh_once(db, later, full=True) == 60
    seen |= await _compare(app, later, full=True)
    # the histories reach every factor and most stages (else this compares little)
    codes = {"silence", "frequency_drop", "unanswered", "low_csat", "negative", "orphaned"}
    kinds = {"unanswered:unanswered", "unanswered:slow_first_response"}
    assert codes | kinds | {"active", "lost", "new"} <= seen
    # an incremental pass over some customers, two days on
    later += timedelta(days=2)
    async with db.session() as s:
        ids = sorted(rng.sample(list(await s.scalars(select(Contact.id))), 25))
        assert await refresh_scores(s, later, ids) == 25
    async with db.session() as s:
        rows = {r.contact_id: r for r in await s.scalars(select(RetentionScore))}
        orphaned = await orphaned_ids(s)
        for cid in ids:
            contact = await s.get(Contact, cid)
            assert contact is not None
            risk, stage = await _reference(s, contact, later, orphaned)
            got = rows[cid]
            assert {"score": got.score, "band": got.band, "factors": got.factors} == risk
            assert got.lifecycle == stage


async def test_complaint_words_in_time_order_across_conversations(
    app: Any, factory: Any, monkeypatch: Any
) -> None:
    """The sentence names the words in the order the customer wrote them, whichever
    conversation each came in, also when the conversations are read in two statements."""
    from app.retention import inputs

    monkeypatch.setattr(inputs, "CHUNK", 1)
    ch = (await factory.channel("A", "sa"))["id"]
    now = utcnow_for_models()
    async with app.state.services.db.session() as s:
        contact = Contact(name="c")
        s.add(contact)
        await s.flush()
        for k, (text, days) in enumerate((("申请退款", 1), ("我要投诉", 2))):
            ident = ContactIdentity(contact_id=contact.id, channel_id=ch, external_id=f"x{k}")
            s.add(ident)
            await s.flush()
            conv = Conversation(channel_id=ch, contact_id=contact.id, identity_id=ident.id)
            s.add(conv)
            await s.flush()
            s.add(
                Message(
                    conversation_id=conv.id,
                    channel_id=ch,
                    direction="inbound",
                    sender_type="contact",
                    content_type="text",
                    content=text,
                    created_at=now - timedelta(days=days),
                )
            )
    await refresh_once(app.state.services.db, now, full=True)
    async with app.state.services.db.session() as s:
        row = await s.get(RetentionScore, contact.id)
        assert row is not None
        negative = next(f for f in row.factors if f["code"] == "negative")
        assert negative["params"]["words"] == ["投诉", "退款"]
