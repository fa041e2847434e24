"""Near-duplicate detection and stories: MinHash over character shingles, LSH bands, credited origins."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Iterable

import numpy as np
import xxhash

from .config import StorySettings
from .models import Article
from .normalize import to_simplified

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


StoryParams = StorySettings  # the settings double as the parameters of every function here


# Lines that feeds and portals repeat around every item: templates, editor and credit lines, calls to
# action. Left in, they make unrelated short items look alike (seen on real Hacker News, 虎嗅 and WSJ items).
_BOILERPLATE_LINE = re.compile(
    r"^\s*(?:article url|comments url|points|# comments|share this|sign up|subscribe|read more|"
    r"责任编辑|責任編輯|编辑|編輯|免责声明|免責聲明|本文来自|本文來自|本文来源|本文來源|来源|來源|原标题|原標題|"
    r"点击|點擊|关注|關注|扫码|掃碼|版权|版權|转载|轉載|声明|聲明|图片来源|圖片來源|题图|題圖)"
    r"[^\n]{0,120}$", re.IGNORECASE | re.MULTILINE)
MIN_SHINGLES = 40


def content_for_matching(text: str) -> str:
    """The text without boilerplate lines, which say nothing about which story it is."""
    return _BOILERPLATE_LINE.sub("", text)


def shingles(text: str, k: int) -> set[str]:
    """Character k-grams of the text with case, spaces and punctuation removed."""
    core = _NOT_WORD.sub("", text.lower())
    if len(core) <= k:
        return {core} if core else set()
    return {core[i:i + k] for i in range(len(core) - k + 1)}


_MERSENNE_PRIME = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)


@lru_cache(maxsize=4)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The MinHash permutations (a, b) as columns, drawn as datasketch draws them, so stored signatures still match."""
    gen = np.random.RandomState(seed)
    pairs = np.array([(gen.randint(1, _MERSENNE_PRIME, dtype=np.uint64), gen.randint(0, _MERSENNE_PRIME, dtype=np.uint64))
                      for _ in range(num_perm)], dtype=np.uint64)
    a, b = pairs[:, :1].copy(), pairs[:, 1:].copy()
    a.flags.writeable = b.flags.writeable = False  # shared by every signature of the process
    return a, b


def signature(text: str, params: StoryParams) -> bytes | None:
    """The MinHash signature of a text as bytes (num_perm uint32), or None for text too short to compare."""
    grams = shingles(content_for_matching(text), params.shingle)
    if len(grams) < MIN_SHINGLES:
        return None
    # datasketch's MinHash.update_batch with a 32-bit xxHash (three times faster than its default sha1,
    # ../shared/docs/PERFORMANCE.md), computed in place in one buffer: the same values at two thirds of the time, and without
    # importing datasketch and SciPy (1.1 s in every run's extraction processes).
    hashes = np.fromiter((xxhash.xxh32_intdigest(g.encode("utf-8")) for g in grams), dtype=np.uint64, count=len(grams))
    a, b = _permutations(params.num_perm, params.seed)
    values = np.multiply(a, hashes)
    values += b
    np.remainder(values, _MERSENNE_PRIME, out=values)
    np.bitwise_and(values, _MAX_HASH, out=values)
    return values.min(axis=1).astype(np.uint32).tobytes()


def band_keys(sig: bytes, params: StoryParams) -> list[int]:
    """One signed 64-bit key per LSH band: articles sharing any key are candidate pairs."""
    values = np.frombuffer(sig, dtype=np.uint32)
    r = params.rows
    return [xxhash.xxh64_intdigest(values[b * r:(b + 1) * r].tobytes(), seed=b) - 2**63 for b in range(params.bands)]


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(np.frombuffer(a, dtype=np.uint32) == np.frombuffer(b, dtype=np.uint32)))


# Credit lines that name where a copy came from. Each pattern captures the credited origin.
_CREDIT_PATTERNS = [
    re.compile(r"(?:来源|來源|稿源|出处|出處|本文来源|本文來源|文章来源|文章來源)\s*[:：]\s*([^\s，,。；;|｜)）\]】]{2,20})"),
    re.compile(r"(?:转载自|轉載自|转自|轉自|转载于|轉載於)\s*[:：]?\s*([^\s，,。；;|｜)）\]】]{2,20})"),
    re.compile(r"[据據]\s*([^\s，,。；;“”\"]{2,10}?(?:社|报|報|网|網|台|新闻|新聞|通讯|通訊))\s*(?:报道|報道|报导|報導|消息|援引|称|稱)"),
    re.compile(r"[（(]\s*(?:记者|記者)?\s*([^\s（）()]{2,10}(?:社|报|報|网|網))\s*[)）]"),
    re.compile(r"^\s*(?:[A-Z][A-Za-z ,.]{0,40})?\((Reuters|AP|AFP|Bloomberg|Xinhua|Dow Jones)\)\s*[-–—]", re.M),
    re.compile(r"^\s*(Reuters|Bloomberg|AFP|Xinhua|Associated Press)\s*[-–—]", re.M),
    re.compile(r"(?:Republished from|Originally published (?:by|in)|Source:)\s+([A-Z][\w&.' -]{1,40}?)(?:[.,;\n]|$)", re.M),
]


_DESCRIPTOR = re.compile(r"^(?:中国大陆|中國大陸|大陆|大陸|内地|內地|香港|台湾|台灣|境外|海外|官方)?(?:媒体|媒體|官媒|网站|網站)")


def credited_origin(text: str | None) -> str | None:
    """The outlet or wire a text credits as its origin (来源：新华社, 據路透社報道, "(Reuters) -" …), or None.

    Chinese names are returned in simplified script without descriptors ("中國大陸媒體華夏日報" -> "华夏日报"),
    so copies in either script credit the same name.
    """
    if not text:
        return None
    head_tail = text[:600] + "\n" + text[-400:]
    for pattern in _CREDIT_PATTERNS:
        match = pattern.search(head_tail)
        if match:
            origin = _DESCRIPTOR.sub("", match.group(1).strip(" ：:-—"))
            if len(origin) >= 2 and not origin.isdigit():
                return to_simplified(origin)
    return None


def sign_article(article: Article, params: StorySettings) -> Article:
    """The article with its MinHash signature and credited origin filled in."""
    return replace(article, signature=signature(article.text_simplified, params),
                   credited_origin=credited_origin(article.text))


class UnionFind:
    """Disjoint sets over hashable items, with path halving."""

    def __init__(self) -> None:
        """Start empty."""
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        """The representative of x's set (adding x if new)."""
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        """Merge the sets of a and b."""
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> dict[str, list[str]]:
        """Representative -> members."""
        out: dict[str, list[str]] = {}
        for x in list(self.parent):
            out.setdefault(self.find(x), []).append(x)
        return out


@dataclass(frozen=True, slots=True)
class Member:
    """What choosing a story's lead needs to know about an article."""

    article_id: str
    at: datetime
    word_count: int


def lead_of(members: Iterable[Member]) -> str:
    """The lead article: earliest published, then the most complete, then the smallest id (deterministic)."""
    return min(members, key=lambda m: (m.at, -m.word_count, m.article_id)).article_id


def group_stories(article_ids: Iterable[str], pairs: Iterable[tuple[str, str]], members: dict[str, Member]) -> dict[str, str]:
    """article_id -> story_id for the union of pairs; a story's id is its lead's article_id."""
    uf = UnionFind()
    for a in article_ids:
        uf.find(a)
    for a, b in pairs:
        uf.union(a, b)
    assignment = {}
    for group in uf.groups().values():
        story = lead_of(members[a] for a in group)
        for a in group:
            assignment[a] = story
    return assignment
