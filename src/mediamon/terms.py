"""Text to content terms: names, organisations, products, places and concepts, never function words.

Chinese: jieba's segmentation (HMM off; run by jieba-rs) with the project's user dictionary and the alias
table's Chinese variants as words; a token is a content term when the project's dictionaries name it
(`userdict.txt`, `aliases.yaml`: the concepts a user cares about) or when jieba's own dictionary tags it as a
name (person, place, organisation, other proper noun) that is not general language there (a dictionary
frequency below `COMMON_ZH_FREQ`, so 中国 and 美国 never count). jieba's common nouns do not count on their
own: readers judged most of them generic for a narrative (代码, 硬件, 瓶颈, 开发者), and no frequency cut-off
separated them from the few that were not (labels/README.md).
English has no such dictionary here: its content terms are names (words the body capitalises inside a
sentence) that are in under `COMMON_EN_SHARE` of a general news background (shipped as counts, built by
bench/build_background.py), plus the concepts of the alias table (bubble, capex, export controls …). Aliases
map variants to one canonical term (英伟达 = 輝達 = Nvidia) and alias terms always count. No I/O here except
reading the files `load_lexicon` is given.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from .errors import ConfigError
from .normalize import HAN

# jieba's tags for names: people, places, organisations, other proper nouns, titles of works.
NAME_TAGS = frozenset({"nr", "nr1", "nr2", "nrj", "nrf", "nrfg", "nrt", "ns", "nsf", "nt", "nz", "nw"})
ALIAS_WORD_FREQ = 1000    # a Chinese alias variant jieba does not know becomes a word of this frequency
COMMON_ZH_FREQ = 3000     # jieba dictionary frequency from which a word is general language (中国 129,470; 芯片 1,031)
COMMON_EN_SHARE = 0.02    # a name in more background news texts than this is general language (China, Washington)
# A capitalised word inside a sentence (not its first word) is a name: "… said Kevin Warsh on …"; so is any
# capitalised Latin word in Chinese text, which does not capitalise sentences ("英伟达推出Blackwell芯片").
_PROPER = re.compile(r"(?<![.!?:;\n\"“‘(]\s)(?<![.!?:;\n\"“‘(])(?<=[\s,])([A-Z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*)"
                     r"|(?<=[\u3400-\u9fff，、：“”（）《》])([A-Z][A-Za-z0-9]*(?:[-'.][A-Za-z0-9]+)*)")
# Letters and digits together name a model, a chip or a product: H30, K2, R1, GPT-5, A800.
_CODE = re.compile(r"(?=[a-z0-9.-]*[a-z])(?=[a-z0-9.-]*\d)[a-z0-9]+(?:[.-][a-z0-9]+)*")
_TOKEN_OK = re.compile(r"[\u3400-\u9fffA-Za-z]")
# Web and mail addresses: their pieces (github, com, www) are never terms. Latin characters only, since Chinese
# text runs on after an address without a space. A bare domain in prose names its owner (Amazon.com, C3.ai): it
# keeps the label before its suffixes.
_DOMAIN_SUFFIXES = frozenset({"com", "cn", "net", "org", "io", "ai", "hk", "tw", "co", "uk", "jp", "html", "htm",
                              "gov", "edu"})
_ADDRESS = re.compile(r"(?:https?://|www\.)[\w\-.~:/?#\[\]@!$&'()*+,;=%]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
                      r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:" + "|".join(sorted(_DOMAIN_SUFFIXES)) + r")\b", re.ASCII)
_CAPITALISED = re.compile(r"[A-Z][A-Za-z0-9]*")
# The interpunct of a foreign name written in Chinese (马克·扎克伯格, 埃隆·马斯克): what precedes it is a given
# name, a fragment on its own (unless the dictionaries name it: 华为·鸿蒙 uses the dot as a separator).
_NAME_DOTS = frozenset("·•‧・")
_NAME_PIECE_TAGS = frozenset({"ns", "nz", "j", "q", "x", "n", "ng"})  # single characters that can be a name's pieces
# A credit (作者｜连冉编辑｜郑玄如果…): the name after the label and its bar is a byline, not coverage. Pages glue it
# to the text, so no line rule can cut it; a Chinese name is at most three characters here.
_CREDIT_LABELS = frozenset({"作者", "编辑", "责编", "责任编辑", "记者", "文", "撰文", "采写", "摄影", "校对", "审校",
                            "出品", "策划", "实习生", "通讯员", "编译", "翻译"})
_CREDIT_BARS = frozenset({"｜", "|", "丨", ":", "："})
_BYLINE_HAN = 3
_EN_WORD = re.compile(r"[a-z][a-z0-9]*(?:[-'][a-z0-9]+)*|[a-z]?\d+[a-z0-9]*")
_jieba_lock = threading.Lock()


def english_words(lowered: str) -> list[str]:
    """English word tokens of a lower-cased text."""
    return _EN_WORD.findall(lowered)


@dataclass(frozen=True)
class Lexicon:
    """Stopwords, aliases, the user dictionary and the general-language references (files a user can edit)."""

    stop_zh: frozenset[str]
    stop_en: frozenset[str]
    alias: dict[str, str]                    # variant (lower case) -> canonical term
    phrases: tuple[tuple[re.Pattern[str], str], ...]  # multi-word English variants -> joined token
    userdict: Path
    user_words: frozenset[str]
    alias_words: tuple[str, ...]             # the alias table's variants with Chinese characters: words to jieba
    cased_only: frozenset[str]               # English variants written capitalised only: names when capitalised
    background_en: dict[str, float]          # English word -> share of background news texts using it
    background_docs: int
    # Whether a Chinese token is a content term depends on the token alone: each is judged once per process.
    han_verdicts: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @property
    def dictionary(self) -> tuple[str, tuple[str, ...]]:
        """What the segmenter's dictionary is built from: the user dictionary's path and the alias words."""
        return str(self.userdict), self.alias_words

    def canonical(self, token: str) -> str:
        """The canonical term of a token (itself when it has no alias)."""
        return self.alias.get(token.lower(), token)

    def background_share(self, term: str) -> float:
        """How common a term is in general language (0 when unknown): jieba's frequency share, or the English
        background's document share. The Fightin' Words prior leans on it, so common words cannot rise."""
        if HAN.search(term):
            if term in self.user_words or term.lower() in self.alias:
                return 0.0  # a word the project's dictionaries list is a name or concept, not general language
            jieba = _jieba(*self.dictionary)
            return jieba.dt.FREQ.get(term, 0) / jieba.dt.total
        return self.background_en.get(term.lower(), 0.0)


def _lines(path: Path) -> frozenset[str]:
    """Non-comment lines of a word-list file."""
    return frozenset(l.strip().lower() for l in path.read_text("utf-8").splitlines() if l.strip() and not l.startswith("#"))


def _background_en() -> tuple[dict[str, float], int]:
    """The packaged English background: word -> share of documents."""
    text = resources.files("mediamon").joinpath("data/background_en.tsv").read_text("utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    total = int(next(n for w, n in rows if w == "__documents__"))
    return {w: int(n) / total for w, n in rows if w != "__documents__"}, total


def load_lexicon(directory: Path) -> Lexicon:
    """Read stopwords_zh.txt, stopwords_en.txt, aliases.yaml and userdict.txt from a config folder."""
    try:
        doc = yaml.safe_load((directory / "aliases.yaml").read_text("utf-8"))
        alias, phrases, written = {}, [], set()
        for canonical, variants in doc["aliases"].items():
            for v in [canonical, *variants]:
                written.add(str(v))
                v = str(v).lower()
                alias[v] = canonical
                if "-" in v and not HAN.search(v):
                    words = [re.escape(w) for w in v.split("-")]
                    phrases.append((re.compile(r"\b" + r"[\s-]+".join(words) + r"\b"), v))
        phrases.sort(key=lambda p: -len(p[1]))
        userdict = directory / "userdict.txt"
        user_words = frozenset(word for word, _, _ in _user_entries(str(userdict)))
        background, total = _background_en()
        alias_words = tuple(sorted(v for v in alias if HAN.search(v) and v not in user_words))
        # Apple, Trump, Intel, Meta: written only capitalised, they are names only where the text capitalises them
        # (an apple, to trump, intel, meta data are words).
        cased_only = frozenset(v.lower() for v in written if not HAN.search(v) and v != v.lower() and v.lower() not in written)
        return Lexicon(_lines(directory / "stopwords_zh.txt"), _lines(directory / "stopwords_en.txt"), alias,
                       tuple(phrases), userdict, user_words, alias_words, cased_only, background, total)
    except (OSError, KeyError, TypeError, AttributeError, IndexError, yaml.YAMLError) as exc:
        raise ConfigError(f"{directory}: cannot read the lexicon (stopwords_*.txt, aliases.yaml, userdict.txt): {exc}") from exc


@lru_cache(maxsize=1)
def _jieba(userdict: str, alias_words: tuple[str, ...]):
    """jieba's dictionary (frequencies and tags), once per process, with the project's user dictionary and
    alias words."""
    import jieba.posseg

    entries = _dictionary_entries(userdict, alias_words)  # the entries the segmenter gets
    with _jieba_lock:
        for word, freq, tag in entries:
            jieba.add_word(word, freq, tag)
    return _jieba_initialised()


@lru_cache(maxsize=1)
def _jieba_initialised():
    """jieba with its own dictionary loaded (once per process)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    with _jieba_lock:
        jieba.initialize()
    return jieba


@lru_cache(maxsize=4)
def _dictionary_entries(userdict: str, alias_words: tuple[str, ...]) -> tuple[tuple[str, int | None, str | None], ...]:
    """The words both segmenters add to jieba's dictionary: the user dictionary's, then each alias variant
    jieba does not know (else 字节跳动 or 黄仁勋 would be cut into pieces no alias names)."""
    dictionary = _jieba_initialised().dt
    entries = _user_entries(userdict)
    listed = {word for word, _, _ in entries}
    # jieba's dictionary is one per process: a word an earlier configuration added (tagged, so in
    # user_word_tag_tab) is not jieba's own, and a fresh jieba-rs must get it too.
    return entries + tuple((word, ALIAS_WORD_FREQ, "nz") for word in alias_words if word not in listed
                           and (not dictionary.FREQ.get(word) or word in dictionary.user_word_tag_tab))


_USER_LINE = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$")  # jieba's own reading of a user-dictionary line


@lru_cache(maxsize=4)
def _user_entries(userdict: str) -> tuple[tuple[str, int | None, str | None], ...]:
    """The user dictionary's lines as jieba.load_userdict reads them (word, frequency or None, tag or None);
    lines starting with # are comments here (jieba would add them as words)."""
    entries = []
    for line in Path(userdict).read_text("utf-8-sig").splitlines():
        line = line.strip().lstrip("\ufeff")
        if line and not line.startswith("#"):
            word, freq, tag = _USER_LINE.match(line).groups()
            entries.append((word, int(freq) if freq else None, tag.strip() if tag else None))
    return tuple(entries)


@lru_cache(maxsize=1)
def _segmenter(userdict: str, alias_words: tuple[str, ...]):
    """jieba.lcut(HMM=False)'s cuts, user dictionary and alias words included, from jieba-rs
    (tests/test_terms.py compares them)."""
    import rjieba

    segmenter = rjieba.Jieba()
    for word, freq, tag in _dictionary_entries(userdict, alias_words):
        segmenter.add_word(word, freq, tag)
    return segmenter


@lru_cache(maxsize=1)
def _tags(userdict: str, alias_words: tuple[str, ...]) -> dict[str, str]:
    """Part of speech of every dictionary word: jieba's own tags, then the user dictionary's and alias words'."""
    jieba = _jieba(userdict, alias_words)
    return {**jieba.posseg.dt.word_tag_tab, **jieba.dt.user_word_tag_tab}


def _is_content(token: str, lex: Lexicon, tags: dict[str, str], freq: dict[str, int], names: frozenset[str]) -> bool:
    """A term the alias table names (unless a stoplist names its canonical term); a word of the user dictionary;
    a Chinese name that jieba's dictionary does not call common; an English name (capitalised inside a sentence)
    that general news does not use everywhere."""
    if token in lex.alias:
        # A stoplist may name a canonical term: a narrative's own class words (chip, AI), in every one of its
        # articles, rise only with its volume, whichever variant (芯片, 晶片, chips) the text uses.
        canonical = lex.alias[token].lower()
        return canonical not in lex.stop_en and canonical not in lex.stop_zh
    if token in lex.stop_zh or token in lex.stop_en or not _TOKEN_OK.search(token) or len(token) < 2:
        return False
    if HAN.search(token):
        verdict = lex.han_verdicts.get(token)
        if verdict is None:
            verdict = lex.han_verdicts[token] = (token in lex.user_words or (
                tags.get(token, "x") in NAME_TAGS and freq.get(token, 0) < COMMON_ZH_FREQ))
        return verdict
    if _CODE.fullmatch(token):
        return True
    if token.isdigit() or len(token) < 3:
        return False
    return token in names and lex.background_en.get(token, 0.0) < COMMON_EN_SHARE


def proper_names(text: str) -> frozenset[str]:
    """Lower-cased words the text capitalises inside a sentence: names, organisations, products, places."""
    return frozenset((m.group(1) or m.group(2)).lower() for m in _PROPER.finditer(text))


def tokens(text_simplified: str, lang: str, lexicon: Lexicon, names_from: str | None = None) -> list[str]:
    """Canonical content terms of a simplified-script text (in its own case), in order. Names are the words
    `names_from` (default: the text) capitalises inside a sentence; pass the body alone, since English
    headlines capitalise every word."""
    names = proper_names(text_simplified if names_from is None else names_from)
    lowered = _ADDRESS.sub(_address_owner, text_simplified.lower())
    for pattern, joined in lexicon.phrases:
        if joined[:joined.index("-")] in lowered:  # its first word must be there (a regex pass is dearer)
            lowered = pattern.sub(joined, lowered)
    dictionary = lexicon.dictionary
    if lang == "zh" or HAN.search(lowered):
        raw = _segmenter(*dictionary).cut(lowered, False)
    else:
        raw = english_words(lowered)
    tags, freq = _tags(*dictionary), _jieba(*dictionary).dt.FREQ
    out, capitalised = [], None
    i = 0
    while i < len(raw):
        tok = raw[i].strip()
        i += 1
        if (i < len(raw) and raw[i] in _NAME_DOTS and HAN.search(tok) and tok not in lexicon.alias
                and tok not in lexicon.user_words):
            continue  # 马克 of 马克·扎克伯格: a given name
        if tok in _CREDIT_LABELS and i < len(raw) and raw[i] in _CREDIT_BARS:
            i = _byline_end(raw, i + 1)
            continue
        if tok in _NAME_DOTS:
            surname, i = _surname(raw, i, tags)
            if len(surname) > 1 and surname not in lexicon.stop_zh:
                out.append(lexicon.canonical(surname))
            continue
        if tok.endswith("'s"):
            tok = tok[:-2]  # nvidia's -> nvidia
        if tok in lexicon.cased_only:
            if capitalised is None:
                capitalised = {word.lower() for word in _CAPITALISED.findall(text_simplified)}
            if tok not in capitalised:
                continue  # an apple, to trump
        if tok and _is_content(tok, lexicon, tags, freq, names):
            out.append(lexicon.canonical(tok))
    return out


def _address_owner(match: re.Match[str]) -> str:
    """What stays of a web address: nothing of a URL or a mail address; a bare domain's name (amazon.com ->
    amazon, news.sina.com.cn -> sina)."""
    text = match.group(0)
    if "/" in text or "@" in text or text.startswith("www."):
        return " "
    labels = text.split(".")
    while len(labels) > 1 and labels[-1] in _DOMAIN_SUFFIXES:
        labels.pop()
    return f" {labels[-1]} "


def _byline_end(raw: list[str], start: int) -> int:
    """Where the name of a credit ends: up to three Chinese characters (徐 青阳; 郑玄 before 如果 or 特斯拉) or two
    Latin words (Li Yuan)."""
    end, han, latin = start, 0, 0
    while end < len(raw):
        piece = raw[end]
        if HAN.fullmatch(piece[:1] or "x") and han + len(piece) <= _BYLINE_HAN and not latin:
            han += len(piece)
        elif piece.isascii() and piece.isalpha() and latin < 2 and not han:
            latin += 1
        elif not piece.strip() and latin:
            pass  # the space between Latin words
        else:
            break
        end += 1
    return end


def _surname(raw: list[str], start: int, tags: dict[str, str]) -> tuple[str, int]:
    """The surname after a name's interpunct, which jieba may cut into pieces (扎克 伯格, 辛 顿), and where it
    ends: name pieces, and single characters that are not function words or verbs (说, 在, 和 end it)."""
    end = start
    while end < len(raw) and HAN.fullmatch(raw[end][:1] or "x") and (
            tags.get(raw[end], "x").startswith("nr") or (len(raw[end]) == 1 and tags.get(raw[end], "x") in _NAME_PIECE_TAGS)):
        end += 1
    return "".join(raw[start:end]), end


def term_counts(text_simplified: str | None, lang: str, lexicon: Lexicon, top: int = 150) -> dict[str, int]:
    """The article's most frequent canonical content terms and their counts (top N keeps storage bounded)."""
    if not text_simplified:
        return {}
    return dict(Counter(tokens(text_simplified, lang, lexicon)).most_common(top))
