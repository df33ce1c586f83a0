"""The complaint lexicon behind the `negative` risk factor, matched like the search does.

A lexicon entry matches a message when the message search would find it: the same
terms (app/searchindex/terms.py: NFKC + lowercase, CJK substrings, other words whole),
so `１２３１５` matches 12315 and `refund` does not match `refunds`. Keep the list to
words a shop owner would agree signal a complaint; add by pull request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from app.searchindex.terms import Group, normalized, parse_query, runs

COMPLAINT_WORDS: tuple[str, ...] = (
    "投诉",
    "退款",
    "退钱",
    "退货",
    "差评",
    "12315",
    "消协",
    "维权",
    "举报",
    "曝光",
    "太慢",
    "骗",
    "再也不",
    "不满意",
    "失望",
    "垃圾",
    "假货",
    "态度差",
    "没人回",
    "没人理",
    "坑人",
    "refund",
    "complaint",
    "scam",
)


@lru_cache(maxsize=1)
def _groups() -> tuple[tuple[str, tuple[Group, ...]], ...]:
    return tuple((w, tuple(parse_query(w))) for w in COMPLAINT_WORDS)


@lru_cache(maxsize=1)
def _any_group() -> re.Pattern[str] | None:
    """Any lexicon group's text: a group found in a message is a substring of its
    normalised text (a CJK group inside a CJK run, a word group equal to a word run), so
    a text where this finds nothing has no entry, and is not split into runs (most
    messages: a full pass reads a month of every customer's)."""
    texts = sorted({g.text for _, groups in _groups() for g in groups}, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in texts)) if texts else None


def complaint_words(text: str) -> list[str]:
    """The lexicon entries found in `text`, in lexicon order."""
    norm = normalized(text)[0]
    anywhere = _any_group()
    if anywhere is None or anywhere.search(norm) is None:
        return []
    found_runs = runs(norm)
    cjk = [r.text for r in found_runs if r.kind == "cjk"]
    words = {r.text for r in found_runs if r.kind == "word"}

    def has(g: Group) -> bool:
        return any(g.text in run for run in cjk) if g.kind == "cjk" else g.text in words

    return [w for w, groups in _groups() if groups and all(has(g) for g in groups)]


def complaint_words_in(texts: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for text in texts:
        for w in complaint_words(text):
            if w not in seen:
                seen.append(w)
    return seen
