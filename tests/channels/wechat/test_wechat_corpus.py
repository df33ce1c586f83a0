"""Every sample of the shared WeChat corpus parses to what the contract shows."""

from __future__ import annotations

from typing import Any

import pytest

from channels.base import ContentType, InboundMessage, PlatformNotice
from channels.wechat.parser import parse_message
from tests.channels.wechat.corpus_support import check_expect, samples

SAMPLES = samples()


def test_the_corpus_is_all_there() -> None:
    assert len(SAMPLES) == 84


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["id"] for s in SAMPLES])
def test_every_sample_parses(sample: dict[str, Any]) -> None:
    parsed = parse_message(sample["xml"].encode("utf-8"))
    expected = sample["content_type"]
    if isinstance(parsed, PlatformNotice):
        # An account notification (job results, verifications): the channel's log.
        assert expected == "event" and not sample["required"]
        assert parsed.event.lower() == sample["event"].lower()
        assert " / " in parsed.text
        return
    assert isinstance(parsed, InboundMessage)
    if expected is None:
        assert parsed.content_type is ContentType.UNSUPPORTED
        return
    assert parsed.content_type == expected
    check_expect(parsed, sample["expect"])
    if expected == "event":
        assert not parsed.counts_as_unread
        assert parsed.text.strip() and "暂不支持" not in parsed.text
        assert parsed.extra["event"].lower() == sample["event"].lower()
    # Values never keep the blanks some senders put around CDATA sections.
    assert parsed.contact.external_id == parsed.contact.external_id.strip()


def test_documented_events_are_no_longer_unsupported() -> None:
    unknown = []
    for sample in SAMPLES:
        parsed = parse_message(sample["xml"].encode("utf-8"))
        if isinstance(parsed, InboundMessage) and "platform_type" in parsed.extra:
            unknown.append(parsed.extra["platform_type"])
    # Only what is not a documented Official Account push stays unknown.
    assert sorted(unknown) == [
        "device_event",
        "device_text",
        "event:unknown",
        "notsure",
        "unknown",
    ]


def test_blanks_around_cdata_are_layout_not_value() -> None:
    (sample,) = [s for s in SAMPLES if s["id"] == "WeRoBot:parser:user_get_card_event"]
    parsed = parse_message(sample["xml"].encode("utf-8"))
    assert isinstance(parsed, InboundMessage)
    assert parsed.contact.external_id == "oZI8Fj040-be6rlDohc6gkoPOQTQ"
    assert parsed.extra["event"] == "user_get_card"
    assert parsed.extra["CardId"] == "pZI8Fjwsy5fVPRBeD78J4RmqVvBc"
    assert parsed.text == "领取了卡券 / claimed a card"
    # Whitespace inside a CDATA section is the customer's own and stays.
    body = (
        "<xml><FromUserName><![CDATA[oX]]></FromUserName><CreateTime>1</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[  两个空格  ]]></Content>"
        "<MsgId>9</MsgId></xml>"
    )
    text = parse_message(body.encode())
    assert isinstance(text, InboundMessage) and text.text == "  两个空格  "


def test_job_results_are_notices_not_chat() -> None:
    (sample,) = [s for s in SAMPLES if s["id"] == "wechatpy:events:mass_send_job_finish_event"]
    parsed = parse_message(sample["xml"].encode("utf-8"))
    assert isinstance(parsed, PlatformNotice)
    assert parsed.text == "群发完成：err(30003) / mass send finished: err(30003)"
    assert parsed.detail["msg_id"] == "1000001625"
