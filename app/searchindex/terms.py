"""Search terms: the one tokenizer both search backends share, and the highlighter.

perf-reliability.md 2.4: the application, not the database, decides what a term
is, so SQLite (FTS5) and PostgreSQL (tsvector) find exactly the same messages.

- Text is normalised: zero-width characters (which split a word invisibly) are
  dropped, each character with its combining marks is composed (NFC: a decomposed
  é or 한 is found like the composed one), then NFKC per character (full-width
  ＡＢＣ１２３ becomes abc123), then lowercase.
- A run of CJK characters (Han, kana, hangul) gives one unigram per character
  and overlapping bigrams at the same positions, so any substring is a phrase of
  bigrams (or one unigram): 惠券 is found inside 优惠券 without a dictionary.
- A run of other letters and digits is one whole word (order numbers, emails,
  English): `refund` does not match `refunds`, as CONTRACT section 5 says.
- Everything else (spaces, punctuation, emoji) separates runs, and a gap position
  between runs keeps phrases from crossing punctuation or scripts.

A query is parsed with the same function: each run becomes a group (a CJK
substring or a whole word) and all groups must match (AND).
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

# Han (Extension A, URO, compatibility, Extension B and beyond), kana, hangul
# syllables, and the ideographic iteration marks 々〆〇.
CJK_RANGES = (
    (0x3005, 0x3007),
    (0x3040, 0x30FF),
    (0x31F0, 0x31FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7AF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3134F),
)
# A word longer than this is indexed and queried by its first 64 characters
# (base64 blobs and URLs must not make huge index entries).
MAX_WORD = 64
# Query size limits: a query is at most this many groups, each of at most this many
# characters; the rest is ignored (bounds the work a single request can ask for).
MAX_GROUPS = 16
MAX_GROUP_CHARS = 64
# Highlights of long messages are a window of about this many characters around the
# first match (the page shows a snippet, the full message is one click away).
SNIPPET_CHARS = 240

Kind = Literal["cjk", "word"]


_CJK_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in CJK_RANGES)
_CJK = re.compile(f"[{_CJK_CLASS}]")
# A CJK run, or a run of letters and digits (str.isalnum: word characters without
# the underscore) that are not CJK.
_RUN = re.compile(f"(?P<cjk>[{_CJK_CLASS}]+)|(?P<word>[^\\W_{_CJK_CLASS}]+)")


def is_cjk(ch: str) -> bool:
    return _CJK.match(ch) is not None


# Invisible characters that split a word for the tokenizer but not for the reader:
# zero-width space/non-joiner/joiner, word joiner, BOM, soft hyphen, Mongolian vowel sep.
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e")


@lru_cache(maxsize=16384)
def _normalized_char(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch).lower()


def _continues(ch: str) -> bool:
    """A character that composes with the one before it: a combining mark, or a Hangul
    medial vowel or final consonant jamo (a decomposed syllable)."""
    return unicodedata.combining(ch) != 0 or "\u1160" <= ch <= "\u11ff"


class _PerCharacter(dict[int, str]):
    """`str.translate`'s table for `normalized`: a character's NFKC + lowercase, kept on
    first use for up to TABLE_SIZE characters (a customer's text must not grow it without
    bound). A zero-width character or one that composes with the one before it maps to
    two characters, like any character that does not give exactly one: the lengths then
    differ and `normalized` takes the character loop."""

    def __missing__(self, codepoint: int) -> str:
        ch = chr(codepoint)
        out = "\0\0" if ch in ZERO_WIDTH or _continues(ch) else _normalized_char(ch)
        if len(self) < TABLE_SIZE:
            self[codepoint] = out
        return out


TABLE_SIZE = 65_536  # about 8 MB; common Chinese text uses a few thousand characters
_TABLE = _PerCharacter()


def normalized(text: str) -> tuple[str, list[int]]:
    """Zero-width dropped, NFC per character cluster, NFKC + lowercase per character;
    and for each output character the index of the input character it came from (so
    matches map back for highlights)."""
    if text.isascii():
        return text.lower(), list(range(len(text)))
    # Most text (all of a Chinese message without marks) is characters that each give
    # one: then one `str.translate` is the whole result (the loop cost about 20 us a
    # message: a retention pass reads a month of each changed customer's messages for
    # the complaint lexicon, and ingest indexes each message).
    out = text.translate(_TABLE)
    if len(out) == len(text):
        return out, list(range(len(text)))
    return _normalized_by_character(text)


def _normalized_by_character(text: str) -> tuple[str, list[int]]:
    """`normalized`, one character cluster at a time (the definition)."""
    parts: list[str] = []
    origin: list[int] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in ZERO_WIDTH:
            i += 1
            continue
        j = i + 1
        while j < n and _continues(text[j]):
            j += 1
        cluster = text[i:j] if j > i + 1 else ch
        if len(cluster) > 1:
            cluster = unicodedata.normalize("NFC", cluster)
        for c in cluster:
            out = c.lower() if c < "\x80" else _normalized_char(c)
            parts.append(out)
            origin.extend([i] * len(out))
        i = j
    return "".join(parts), origin


def _span_end(text: str, end: int) -> int:
    """Past the marks and invisible characters that belong to the character before `end`."""
    while end < len(text) and (_continues(text[end]) or text[end] in ZERO_WIDTH):
        end += 1
    return end


@dataclass(frozen=True)
class Run:
    kind: Kind
    text: str  # normalised
    start: int  # span in the normalised text
    end: int


def runs(norm: str) -> list[Run]:
    """Split normalised text into CJK runs and word runs; separators are dropped."""
    return [
        Run("cjk" if m.lastgroup == "cjk" else "word", m.group(), m.start(), m.end())
        for m in _RUN.finditer(norm)
    ]


def search_terms(text: str) -> list[tuple[str, int]]:
    """(term, position) pairs, positions from 1: CJK unigrams and bigrams share a
    position; each run is followed by one unused position (the separator)."""
    terms: list[tuple[str, int]] = []
    pos = 1
    for run in runs(normalized(text)[0]):
        if run.kind == "word":
            terms.append((run.text[:MAX_WORD], pos))
            pos += 2
            continue
        chars = run.text
        for i, ch in enumerate(chars):
            terms.append((ch, pos + i))
            if i + 1 < len(chars):
                terms.append((chars[i : i + 2], pos + i))
        pos += len(chars) + 1
    return terms


# FTS5 has no colocated tokens without a C tokenizer, so the SQLite document is laid
# out as: bigrams and words in order with SEPARATOR between runs (phrases of bigrams
# stay within a run), then SEPARATOR, then every CJK unigram (one-character queries
# are single tokens, never phrases, so their positions do not matter).
# SEPARATOR is a letter FTS5's unicode61 keeps as a token but that `runs` never
# produces (it is neither CJK nor reachable from a query), so it matches nothing.
SEPARATOR = "\u01c1"


def fts5_document(text: str) -> str:
    parts: list[str] = []
    unigrams: list[str] = []
    for run in runs(normalized(text)[0]):
        if parts:
            parts.append(SEPARATOR)
        if run.kind == "word":
            parts.append(run.text[:MAX_WORD])
        else:
            parts.extend(run.text[i : i + 2] for i in range(len(run.text) - 1))
            unigrams.extend(run.text)
    return " ".join([*parts, SEPARATOR, *unigrams]) if unigrams else " ".join(parts)


@dataclass(frozen=True)
class Group:
    """One thing a query asks for: a CJK substring or a whole word."""

    kind: Kind
    text: str

    @property
    def tokens(self) -> list[str]:
        """The index terms that must appear consecutively."""
        if self.kind == "word" or len(self.text) == 1:
            return [self.text[:MAX_WORD]]
        return [self.text[i : i + 2] for i in range(len(self.text) - 1)]


def parse_query(q: str) -> list[Group]:
    """The groups of a query, de-duplicated, in order; empty when nothing is searchable."""
    groups: list[Group] = []
    for run in runs(normalized(q)[0]):
        group = Group(run.kind, run.text[:MAX_GROUP_CHARS])
        if group not in groups:
            groups.append(group)
    return groups[:MAX_GROUPS]


def fts5_query(groups: list[Group]) -> str:
    """`"退款 款进" AND "a123"`: each group a quoted phrase (quotes doubled), all required."""
    return " AND ".join('"' + " ".join(g.tokens).replace('"', '""') + '"' for g in groups)


def _lexeme(term: str) -> str:
    if "\\" in term or "'" in term:
        term = term.replace("\\", "\\\\").replace("'", "''")
    return "'" + term + "'"


# PostgreSQL keeps positions up to 16383 and 256 positions per lexeme (the docs'
# "Limitations of text search"); clamping here says so rather than relying on it.
MAX_POSITION = 16383
MAX_POSITIONS_PER_LEXEME = 256


def tsvector_literal(text: str) -> str:
    """`'退':1 '退款':1 '款':2` for `CAST(... AS tsvector)`: lexemes taken verbatim."""
    positions: dict[str, list[int]] = {}
    for term, pos in search_terms(text):  # positions come in ascending order
        at = positions.get(term)
        if at is None:
            positions[term] = [min(pos, MAX_POSITION)]
        elif len(at) < MAX_POSITIONS_PER_LEXEME and at[-1] < MAX_POSITION:
            at.append(min(pos, MAX_POSITION))
    return " ".join(f"{_lexeme(t)}:{','.join(map(str, ps))}" for t, ps in positions.items())


def tsquery_literal(groups: list[Group]) -> str:
    """`('退款' <-> '款进') & 'a123'` for `CAST(... AS tsquery)`."""
    return " & ".join("(" + " <-> ".join(_lexeme(t) for t in g.tokens) + ")" for g in groups)


def _spans(text: str, groups: list[Group]) -> list[tuple[int, int]]:
    """Where the groups occur in `text`, as merged spans of original characters."""
    norm, origin = normalized(text)
    found: list[tuple[int, int]] = []
    words = [g.text for g in groups if g.kind == "word"]
    for run in runs(norm):
        if run.kind == "word" and run.text[:MAX_WORD] in words:
            found.append((run.start, run.end))
    for g in groups:
        if g.kind != "cjk":
            continue
        at = norm.find(g.text)
        while at >= 0:
            found.append((at, at + len(g.text)))
            at = norm.find(g.text, at + 1)
    spans = sorted((origin[a], _span_end(text, origin[b - 1] + 1)) for a, b in found)
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def highlight(text: str, groups: list[Group], snippet: int = SNIPPET_CHARS) -> str:
    """HTML: the text escaped, each match wrapped in <mark>. Customer text is hostile,
    so every piece of it goes through html.escape and only our own tags are added."""
    spans = _spans(text, groups)
    start, end = 0, len(text)
    if len(text) > snippet:
        first = spans[0][0] if spans else 0
        start = max(0, min(first - snippet // 4, len(text) - snippet))
        end = start + snippet
    out: list[str] = ["…"] if start > 0 else []
    cursor = start
    for a, b in spans:
        a, b = max(a, start), min(b, end)
        if a >= b:
            continue
        out.append(html.escape(text[cursor:a]))
        out.append("<mark>" + html.escape(text[a:b]) + "</mark>")
        cursor = b
    out.append(html.escape(text[cursor:end]))
    if end < len(text):
        out.append("…")
    return "".join(out)
