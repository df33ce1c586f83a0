"""Greeting, away message and the CSAT survey: system messages through the delivery queue,
answers recorded on the rated conversation (contract section 9)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from app.models import ConversationFacts, DeliveryJob, Message, Task
from tests.conftest import push


class World:
    def __init__(self, client: Any, app: Any, channel: dict[str, Any], admin: Any, agent: Any):
        self.client, self.app, self.channel = client, app, channel
        self.admin, self.agent = admin, agent
        self.n = 0

    async def configure(self, **settings: Any) -> None:
        r = await self.client.patch(
            f"/api/v1/channels/{self.channel['id']}", json=settings, headers=self.admin["headers"]
        )
        assert r.status_code == 200, r.text

    async def say(self, text: str, who: str = "u1") -> None:
        self.n += 1
        r = await push(self.client, self.channel, {"id": f"m{self.n}", "from": who, "text": text})
        assert r.status_code == 200

    async def conversations(self) -> list[dict[str, Any]]:
        r = await self.client.get("/api/v1/conversations?status=all", headers=self.admin["headers"])
        return sorted(r.json()["items"], key=lambda c: c["id"])

    async def messages(self, conversation_id: int) -> list[dict[str, Any]]:
        r = await self.client.get(
            f"/api/v1/conversations/{conversation_id}/messages", headers=self.admin["headers"]
        )
        return sorted(r.json()["items"], key=lambda m: m["id"])

    async def reply(self, conversation_id: int, text: str = "您好") -> None:
        r = await self.client.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"content": text},
            headers=self.agent["headers"],
        )
        assert r.status_code == 201

    async def resolve(self, conversation_id: int) -> None:
        r = await self.client.post(
            f"/api/v1/conversations/{conversation_id}/status",
            json={"status": "resolved"},
            headers=self.agent["headers"],
        )
        assert r.status_code == 200

    async def get(self, conversation_id: int) -> dict[str, Any]:
        r = await self.client.get(
            f"/api/v1/conversations/{conversation_id}", headers=self.admin["headers"]
        )
        return dict(r.json())


async def _world(client: Any, factory: Any, app: Any) -> World:
    channel = await factory.channel("A", "sa")
    admin = await factory.user("admin")
    agent = await factory.user("agent", name="王五")
    return World(client, app, channel, admin, agent)


def _system(messages: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in messages if m["sender"]["type"] == "system"]


async def test_greeting_once_through_the_delivery_queue(client: Any, factory: Any, app: Any):
    w = await _world(client, factory, app)
    await w.configure(greeting="您好，欢迎光临", away_message="下班了")
    await w.say("在吗")
    await w.say("有人吗")
    (conv,) = await w.conversations()
    messages = await w.messages(conv["id"])
    assert _system(messages) == ["您好，欢迎光临"]
    greeting = next(m for m in messages if m["sender"]["type"] == "system")
    assert greeting["direction"] == "outbound" and greeting["delivery_status"] == "queued"
    async with app.state.services.db.session() as session:
        jobs = list(await session.scalars(select(DeliveryJob.message_id)))
        facts = await session.get(ConversationFacts, conv["id"])
    assert jobs == [greeting["id"]]
    # A greeting is not a response.
    assert facts is not None and facts.first_response_at is None and facts.messages_out == 0
    assert conv["first_response_at"] is None


async def test_away_message_outside_hours_instead_of_greeting(
    client: Any, factory: Any, app: Any
) -> None:
    w = await _world(client, factory, app)
    # No day listed: closed all week.
    await w.configure(business_hours={}, greeting="您好", away_message="现在是下班时间")
    await w.say("在吗")
    await w.say("有人吗")
    (conv,) = await w.conversations()
    assert _system(await w.messages(conv["id"])) == ["现在是下班时间"]
    # Always open again: nothing more for this conversation.
    await w.configure(business_hours=None)
    await w.say("？")
    assert _system(await w.messages(conv["id"])) == ["现在是下班时间"]


async def test_survey_answer_comment_and_low_score_task(client: Any, factory: Any, app: Any):
    w = await _world(client, factory, app)
    await w.configure(csat_enabled=True)
    await w.say("退款")
    (conv,) = await w.conversations()
    await w.reply(conv["id"])
    await w.resolve(conv["id"])
    messages = await w.messages(conv["id"])
    survey = messages[-1]
    assert survey["sender"]["type"] == "system" and "1-5" in survey["content"]
    assert [c["score"] for c in survey["extra"]["csat"]["choices"]] == [1, 2, 3, 4, 5]
    # A full-width digit and a comment after it.
    await w.say("２，太慢了")
    convs = await w.conversations()
    assert [c["id"] for c in convs] == [conv["id"]]  # no new conversation
    got = await w.get(conv["id"])
    assert got["status"] == "resolved"
    assert got["csat"]["score"] == 2 and got["csat"]["comment"] == "太慢了"
    assert got["csat"]["agent"] == {"id": w.agent["id"], "name": "王五"}
    assert (await w.messages(conv["id"]))[-1]["content"] == "２，太慢了"  # kept in the history
    async with app.state.services.db.session() as session:
        (task,) = list(await session.scalars(select(Task)))
    assert task.kind == "low_csat" and task.assignee_id is None
    assert task.conversation_id == conv["id"]
    # A second digit is an ordinary message: it opens a new conversation.
    await w.say("5")
    assert len(await w.conversations()) == 2
    assert (await w.get(conv["id"]))["csat"]["score"] == 2


async def test_not_an_answer_and_never_asked(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory, app)
    await w.say("你好")
    (conv,) = await w.conversations()
    await w.reply(conv["id"])
    await w.resolve(conv["id"])  # CSAT off: no survey
    assert _system(await w.messages(conv["id"])) == []
    await w.say("5")  # never asked: a new conversation
    convs = await w.conversations()
    assert len(convs) == 2 and (await w.get(conv["id"]))["csat"] is None
    await w.configure(csat_enabled=True)
    second = convs[1]["id"]
    await w.resolve(second)  # no agent reply in it: no survey
    assert _system(await w.messages(second)) == []
    await w.say("again", who="u2")
    third = (await w.conversations())[-1]["id"]
    await w.reply(third)
    await w.resolve(third)
    assert len(_system(await w.messages(third))) == 1
    await w.say("6", who="u2")  # not 1-5: ordinary message, a new conversation
    assert len(await w.conversations()) == 4
    assert (await w.get(third))["csat"] is None


async def test_answer_after_24_hours_is_an_ordinary_message(
    client: Any, factory: Any, app: Any
) -> None:
    w = await _world(client, factory, app)
    await w.configure(csat_enabled=True)
    await w.say("hi")
    (conv,) = await w.conversations()
    await w.reply(conv["id"])
    await w.resolve(conv["id"])
    async with app.state.services.db.session() as session:
        facts = await session.get(ConversationFacts, conv["id"])
        assert facts is not None and facts.csat_asked_at is not None
        await session.execute(
            update(ConversationFacts)
            .where(ConversationFacts.conversation_id == conv["id"])
            .values(csat_asked_at=facts.csat_asked_at - timedelta(hours=24, minutes=1))
        )
    await w.say("4")
    assert len(await w.conversations()) == 2
    assert (await w.get(conv["id"]))["csat"] is None


async def test_survey_respects_the_reply_window_quota(client: Any, factory: Any, app: Any):
    w = await _world(client, factory, app)
    await w.configure(csat_enabled=True)
    await w.say("hi")
    (conv,) = await w.conversations()
    for i in range(5):  # the window's 5 messages are used by the agent
        await w.reply(conv["id"], f"第{i}条")
    await w.resolve(conv["id"])
    assert _system(await w.messages(conv["id"])) == []
    async with app.state.services.db.session() as session:
        n = await session.scalar(select(Message.id).where(Message.sender_type == "system"))
    assert n is None


def test_menu_taps_and_choices() -> None:
    from app.service.actions.automatic import parse_answer, survey_choices

    assert parse_answer("5 非常满意", {"menu_id": "csat_5"}) == (5, "")
    assert parse_answer("随便", {"menu_id": "csat_2"}) == (2, "")
    assert parse_answer("好的", {"menu_id": "other"}) is None
    assert parse_answer("10") is None and parse_answer("0") is None
    extra = {"csat": {"choices": [{"score": 4, "id": "csat_4", "label": "4 满意"}]}}
    assert survey_choices(extra) == (("csat_4", "4 满意"),)
    assert survey_choices({}) == ()
