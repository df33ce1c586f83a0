"""The tokenizer both search backends share: terms, queries, and the highlighter."""

from __future__ import annotations

import pytest

from app.searchindex.terms import (
    SEPARATOR,
    Group,
    fts5_document,
    fts5_query,
    highlight,
    parse_query,
    search_terms,
    tsquery_literal,
    tsvector_literal,
)


def test_one_character_is_a_unigram() -> None:
    assert search_terms("鲸") == [("鲸", 1)]
    assert parse_query("鲸") == [Group("cjk", "鲸")]
    assert Group("cjk", "鲸").tokens == ["鲸"]


def test_two_characters_are_unigrams_and_a_bigram_at_the_same_position() -> None:
    assert search_terms("退款") == [("退", 1), ("退款", 1), ("款", 2)]
    assert Group("cjk", "退款").tokens == ["退款"]


def test_longer_runs_overlap_and_substrings_are_bigram_phrases() -> None:
    terms = search_terms("优惠券")
    assert terms == [("优", 1), ("优惠", 1), ("惠", 2), ("惠券", 2), ("券", 3)]
    assert Group("cjk", "惠券").tokens == ["惠券"]
    assert Group("cjk", "优惠券过期").tokens == ["优惠", "惠券", "券过", "过期"]


def test_mixed_token_splits_into_a_cjk_run_and_a_whole_word() -> None:
    assert search_terms("订单号A123") == [
        ("订", 1),
        ("订单", 1),
        ("单", 2),
        ("单号", 2),
        ("号", 3),
        ("a123", 5),  # one unused position after the CJK run
    ]
    assert parse_query("订单号A123") == [Group("cjk", "订单号"), Group("word", "a123")]


def test_full_width_and_case_are_normalised() -> None:
    assert search_terms("ＲＥＦＵＮＤ１２３") == [("refund123", 1)]
    assert parse_query("Ｒｅｆｕｎｄ") == parse_query("REFUND") == [Group("word", "refund")]


def test_punctuation_separates_runs_and_leaves_a_gap() -> None:
    terms = search_terms("退款，发票。OK!ok")
    assert ("款发", 2) not in terms and not any(t == "款发" for t, _ in terms)
    assert [p for t, p in terms if t in ("退", "发", "ok")] == [1, 4, 7, 9]
    # Bigrams never cross punctuation: 款发 is not a term, so "退款发" cannot match.
    assert "款发" not in fts5_document("退款，发票")
    assert fts5_document("退款，发票") == f"退款 {SEPARATOR} 发票 {SEPARATOR} 退 款 发 票"


def test_words_are_whole_and_emoji_are_separators() -> None:
    assert [t for t, _ in search_terms("refunds😀refund")] == ["refunds", "refund"]
    assert [t for t, _ in search_terms("bob@example.com")] == ["bob", "example", "com"]


def test_query_groups_deduplicate_and_nothing_searchable_is_empty() -> None:
    assert parse_query("退款 退款 REFUND refund") == [Group("cjk", "退款"), Group("word", "refund")]
    assert parse_query("？！…  ") == []


def test_query_syntax_is_escaped() -> None:
    assert fts5_query([Group("cjk", "退款进"), Group("word", "a1")]) == '"退款 款进" AND "a1"'
    assert tsquery_literal([Group("cjk", "退款进"), Group("word", "a1")]) == (
        "('退款' <-> '款进') & ('a1')"
    )
    # Input is only ever letters, digits and CJK, but the quoting holds regardless.
    assert tsquery_literal([Group("word", "it's")]) == "('it''s')"
    assert fts5_query([Group("word", 'say"hi')]) == '"say""hi"'


def test_tsvector_literal_lists_positions() -> None:
    assert tsvector_literal("哈哈哈") == "'哈':1,2,3 '哈哈':1,2"
    assert tsvector_literal("") == ""


@pytest.mark.parametrize(
    ("text", "query", "expected"),
    [
        ("退款进度？", "退款", "<mark>退款</mark>进度？"),
        (
            "<script>alert(1)</script>退款",
            "退款",
            "&lt;script&gt;alert(1)&lt;/script&gt;<mark>退款</mark>",
        ),
        ("<b>refund</b> please", "refund", "&lt;b&gt;<mark>refund</mark>&lt;/b&gt; please"),
        ("Refunds and REFUND", "refund", "Refunds and <mark>REFUND</mark>"),
        ("请用ＲＥＦＵＮＤ", "refund", "请用<mark>ＲＥＦＵＮＤ</mark>"),
        ("优惠券过期了", "惠券 期", "优<mark>惠券</mark>过<mark>期</mark>了"),
        ("订单号A123已发货", "订单号a123", "<mark>订单号A123</mark>已发货"),
        ('a&b 退款 "x"', "退款", "a&amp;b <mark>退款</mark> &quot;x&quot;"),
    ],
)
def test_highlight_escapes_then_marks(text: str, query: str, expected: str) -> None:
    assert highlight(text, parse_query(query)) == expected


def test_highlight_of_a_long_message_is_a_window_around_the_first_match() -> None:
    text = "啊" * 500 + "蓝鲸" + "哦" * 500
    out = highlight(text, parse_query("蓝鲸"))
    assert out.startswith("…") and out.endswith("…") and "<mark>蓝鲸</mark>" in out
    assert len(out) < 300


def test_normalized_in_one_pass_equals_the_character_loop() -> None:
    """`normalized` takes a one-pass path for text without zero-width characters or
    marks; it must give what the character-by-character definition gives, for every
    character alone and inside Chinese text, and for mixes of the awkward ones."""
    import random

    from app.searchindex import terms

    samples = [chr(c) for c in range(0x80, 0x10000) if not 0xD800 <= c <= 0xDFFF]
    samples += [chr(c) for c in range(0x10000, 0x110000, 97)]
    awkward = list("ＡＢｃ１２ﬁ㎏½İẞǅ가각\u1100\u1161\u11a8e\u0301\u200b\u00ad한글退款優惠券豈")
    rng = random.Random(20)
    texts = samples + [f"请问{ch}退款" for ch in samples[::7]]
    texts += ["".join(rng.choices(awkward, k=rng.randint(1, 12))) for _ in range(5000)]
    for text in texts:
        assert terms.normalized(text) == terms._normalized_by_character(text), repr(text)
