"""The connector against the fake kf API: pulls, replies, tokens, media, names."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from channels.base import (
    ChannelContext,
    ContentType,
    DeliveryError,
    Direction,
    MediaRef,
    OutboundMedia,
    OutboundMessage,
    PullPage,
    PullRequest,
    WebhookRequest,
)
from channels.wecom import WeComConfig, connector, pull
from sandbox.wecom.fake import FakeWeCom
from tests.channels.wecom.conftest import MakeCtx

CUSTOMER = "wmCUSTOMER0001"


async def pull_all(ctx: ChannelContext, kfid: str, token: str | None) -> list[PullPage]:
    """What the product's pull step does: page after page from the stored cursor."""
    # The test's cursor row: kept on the context's in-memory state.
    found = []
    while True:
        cursor = getattr(ctx.state, "cursor", None)
        page = await connector.pull(ctx, PullRequest(kfid, token or ""), cursor)
        found.append(page)
        ctx.state.cursor = page.next_cursor  # type: ignore[attr-defined]
        if not page.has_more:
            return found


def notice_token(fake: FakeWeCom, config: WeComConfig) -> str:
    query, body = fake.notice()
    result = connector.handle_webhook(config, WebhookRequest("POST", query, {}, body))
    assert result.pull is not None and result.pull.key == fake.open_kfids[0]
    return result.pull.token


async def test_a_notice_pulls_every_page_and_the_cursor_moves_on(
    fake: FakeWeCom, config: WeComConfig, make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pull, "PAGE_LIMIT", 2)
    for i in range(5):
        fake.customer_writes(CUSTOMER, f"第{i}条", nickname="小王")
    ctx = make_ctx()
    kfid = fake.open_kfids[0]
    pages = await pull_all(ctx, kfid, notice_token(fake, config))
    assert [len(p.messages) for p in pages] == [2, 2, 1]
    assert [p.has_more for p in pages] == [True, True, False]
    assert [m.text for p in pages for m in p.messages] == [f"第{i}条" for i in range(5)]
    # Every call carried the notice's token and limit; names came from batchget.
    assert all(c["token"] and c["limit"] == 2 for c in fake.sync_calls)
    assert {m.contact.name for p in pages for m in p.messages} == {"小王"}
    # Nothing new: one call from the stored cursor, an empty page, has_more 0.
    again = await pull_all(ctx, kfid, notice_token(fake, config))
    assert [(len(p.messages), p.has_more) for p in again] == [(0, False)]
    fake.customer_writes(CUSTOMER, "新消息")
    newer = await pull_all(ctx, kfid, notice_token(fake, config))
    assert [m.text for p in newer for m in p.messages] == ["新消息"]


async def test_an_empty_page_with_has_more_does_not_end_the_pull(
    fake: FakeWeCom, config: WeComConfig, make_ctx: MakeCtx
) -> None:
    fake.customer_writes(CUSTOMER, "在吗")
    fake.empty_pages(2)
    pages = await pull_all(make_ctx(), fake.open_kfids[0], notice_token(fake, config))
    assert [(len(p.messages), p.has_more) for p in pages] == [(0, True), (0, True), (1, False)]


async def test_an_expired_notice_token_is_a_platform_error(
    fake: FakeWeCom, config: WeComConfig, make_ctx: MakeCtx
) -> None:
    token = notice_token(fake, config)
    fake.advance(11 * 60)  # the notice Token lives 10 minutes
    with pytest.raises(DeliveryError, match="95007"):
        await pull_all(make_ctx(), fake.open_kfids[0], token)


async def test_a_rejected_token_is_refreshed_once_and_the_call_retried(
    fake: FakeWeCom, config: WeComConfig, make_ctx: MakeCtx
) -> None:
    fake.customer_writes(CUSTOMER, "hi")
    ctx = make_ctx()
    await pull_all(ctx, fake.open_kfids[0], None)
    assert len(fake.token_requests) == 1
    fake.invalidate_tokens()  # 40014
    fake.customer_writes(CUSTOMER, "again")
    pages = await pull_all(ctx, fake.open_kfids[0], None)
    assert [m.text for p in pages for m in p.messages] == ["again"]
    assert len(fake.token_requests) == 2
    fake.expire_tokens()  # 42001
    await pull_all(ctx, fake.open_kfids[0], None)
    assert len(fake.token_requests) == 3


async def test_the_token_is_refreshed_before_it_expires(fake: FakeWeCom, make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    await pull_all(ctx, fake.open_kfids[0], None)
    fake.advance(7200 - 299)  # inside the 5-minute margin
    await pull_all(ctx, fake.open_kfids[0], None)
    assert len(fake.token_requests) == 2
    # No 42001 was ever answered: the refresh came first.


async def test_a_bad_secret_is_a_readable_permanent_error(
    fake: FakeWeCom, config: WeComConfig, make_ctx: MakeCtx
) -> None:
    wrong = config.model_copy(update={"secret": config.secret.__class__("nope")})
    with pytest.raises(DeliveryError, match="invalid_secret") as caught:
        await pull_all(make_ctx(config=wrong), fake.open_kfids[0], None)
    assert not caught.value.retryable


def reply(text: str = "您好", key: str = "a" * 32, **kw: Any) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key,
        recipient=CUSTOMER,
        content_type=kw.pop("content_type", ContentType.TEXT),
        text=text,
        reply_context=kw.pop("reply_context", {"open_kfid": "wkHUILIU0000000000000000000001"}),
        **kw,
    )


async def test_a_reply_goes_through_send_msg_with_our_msgid(
    fake: FakeWeCom, make_ctx: MakeCtx
) -> None:
    fake.customer_writes(CUSTOMER, "在吗")
    ctx = make_ctx()
    result = await connector.send(ctx, reply("您好，在的"))
    assert result.external_id == "a" * 32
    assert fake.sent == [
        {
            "touser": CUSTOMER,
            "open_kfid": fake.open_kfids[0],
            "msgid": "a" * 32,
            "msgtype": "text",
            "text": {"content": "您好，在的"},
        }
    ]
    # The session was moved to "handled by API" (state 1) before the reply.
    assert fake.customer(CUSTOMER).state == 1
    # A retry of the same message is not sent twice.
    await connector.send(ctx, reply("您好，在的"))
    assert len(fake.sent) == 1


async def test_a_survey_goes_out_as_a_msgmenu(fake: FakeWeCom, make_ctx: MakeCtx) -> None:
    fake.customer_writes(CUSTOMER, "谢谢")
    ctx = make_ctx()
    survey = reply(
        "请为本次服务打分",
        key="b" * 32,
        choices=(("csat_5", "5 非常满意"), ("csat_1", "1 非常不满意")),
    )
    await connector.send(ctx, survey)
    assert connector.capabilities.menus
    (sent,) = fake.sent
    assert sent["msgtype"] == "msgmenu" and "text" not in sent
    assert sent["msgmenu"] == {
        "head_content": "请为本次服务打分",
        "list": [
            {"id": "csat_5", "content": "5 非常满意"},
            {"id": "csat_1", "content": "1 非常不满意"},
        ],
        "tail_content": "",
    }
    # A malformed menu is refused by the platform (the fake checks the documented shape).
    bad = {**sent, "msgid": "c" * 32, "msgmenu": {"head_content": "x", "list": []}}
    assert fake.send_msg(bad)["errcode"] == 40058


async def test_the_sixth_reply_in_a_window_is_refused(fake: FakeWeCom, make_ctx: MakeCtx) -> None:
    fake.customer_writes(CUSTOMER, "在吗")
    ctx = make_ctx()
    for i in range(5):
        await connector.send(ctx, reply(f"回复{i}", key=f"k{i}"))
    with pytest.raises(DeliveryError, match="quota_exceeded") as caught:
        await connector.send(ctx, reply("第六条", key="k6"))
    assert not caught.value.retryable
    fake.customer_writes(CUSTOMER, "再问一下")  # a new customer message opens a new window
    await connector.send(ctx, reply("好的", key="k7"))


async def test_a_late_reply_comes_back_as_msg_send_fail(fake: FakeWeCom, make_ctx: MakeCtx) -> None:
    fake.customer_writes(CUSTOMER, "在吗")
    ctx = make_ctx()
    await pull_all(ctx, fake.open_kfids[0], None)
    fake.advance(49 * 3600)
    await connector.send(ctx, reply("抱歉回复晚了", key="late1"))
    pages = await pull_all(ctx, fake.open_kfids[0], None)
    failures = [f for p in pages for f in p.reports]
    assert [f.external_id for f in failures] == ["late1"]
    assert failures[0].reason.startswith("window_expired")


async def test_a_reply_without_a_known_account_is_refused_before_any_call(
    fake: FakeWeCom, config: WeComConfig, make_ctx: MakeCtx
) -> None:
    two = config.model_copy(update={"open_kfid": ["wk1", "wk2"]})
    with pytest.raises(DeliveryError, match="no_account"):
        await connector.send(make_ctx(config=two), reply(reply_context={}))
    assert fake.token_requests == []


async def test_image_replies_are_uploaded_then_sent_with_the_caption_after(
    fake: FakeWeCom, make_ctx: MakeCtx
) -> None:
    fake.customer_writes(CUSTOMER, "发张图")
    image = OutboundMedia(ContentType.IMAGE, b"\x89PNG\r\n\x1a\nxx", "image/png", "a.png")
    await connector.send(
        make_ctx(), reply("这是图", content_type=ContentType.IMAGE, media=(image,))
    )
    assert [s["msgtype"] for s in fake.sent] == ["image", "text"]
    assert fake.sent[0]["image"]["media_id"] == fake.uploads[0]
    assert fake.sent[1]["text"]["content"] == "这是图"


async def test_inbound_media_is_downloaded(fake: FakeWeCom, make_ctx: MakeCtx) -> None:
    media_id = fake.add_media(b"JPEGDATA", "image/jpeg", "p.jpg")
    got = await connector.fetch_media(make_ctx(), MediaRef(ContentType.IMAGE, media_id))
    assert (got.content, got.mime_type, got.file_name) == (b"JPEGDATA", "image/jpeg", "p.jpg")
    with pytest.raises(DeliveryError, match="invalid_media"):
        await connector.fetch_media(make_ctx(), MediaRef(ContentType.IMAGE, "gone"))


async def test_a_welcome_code_is_used_for_the_greeting(
    fake: FakeWeCom, config: WeComConfig, make_ctx: MakeCtx
) -> None:
    greeting = config.model_copy(update={"welcome_message": "欢迎光临，有什么可以帮您？"})
    fake.customer_enters(CUSTOMER)
    pages = await pull_all(make_ctx(config=greeting), fake.open_kfids[0], None)
    stored = [m for p in pages for m in p.messages]
    assert [m.content_type for m in stored] == [ContentType.EVENT, ContentType.TEXT]
    assert stored[1].direction == Direction.OUTBOUND
    assert stored[1].text == "欢迎光临，有什么可以帮您？"
    assert [w["text"]["content"] for w in fake.welcomes] == ["欢迎光临，有什么可以帮您？"]


async def test_a_network_failure_on_pull_is_retryable(fake: FakeWeCom, make_ctx: MakeCtx) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down", request=request)

    with pytest.raises(DeliveryError) as caught:
        await pull_all(make_ctx(transport=httpx.MockTransport(refuse)), fake.open_kfids[0], None)
    assert caught.value.retryable
