"""Canonical URLs, script and language, simplified-script copies, and text fingerprints."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import opencc

from .errors import BadURL

# Query parameters that identify a click, not a document. Users add more in sources.yaml.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
    "spm", "scm", "from", "wfr", "wm", "share_token", "share_from", "sharer_shareid", "sharer_shareinfo",
    "isappinstalled", "ref", "ref_src", "ref_url", "referer", "referrer", "src", "source", "cmpid",
    "ocid", "ncid", "s_cid", "smid", "mod", "_ga", "_gl", "vn", "tt_from", "timestamp", "sessionid",
})
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmsr", "hmpl", "hmcu", "hmkw", "hmci")
_MOBILE_PREFIXES = ("www.", "m.", "mobile.", "wap.", "amp.")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
HAN_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs: extension A, unified, compatibility
HAN = re.compile(f"[{HAN_CHARS}]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_ENGLISH_STOPWORDS = frozenset("the of and to in a is that for on with as by at from it its was are be has said".split())
_TAG = re.compile(r"<[a-zA-Z!/?][^<>]*>")
# Zero-width, bidi-control and tag characters (they reorder or hide text in titles) and C0 controls.
_INVISIBLE = re.compile(r"[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\U000e0000-\U000e007f"
                        r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def canonical_url(url: str, extra_tracking: frozenset[str] | tuple[str, ...] = ()) -> str:
    """One spelling per document: lower-case scheme and host, no www./m., no fragment or tracking parameters.

    Raises BadURL for strings urllib cannot read as a URL (a bad port, a broken IPv6 literal).
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise BadURL(url, str(exc)) from None
    scheme = parts.scheme.lower() or "http"
    host = (parts.hostname or "").lower().rstrip(".")
    stripped = True
    while stripped:  # www.m.example.com: strip until none is left, so canonicalising twice changes nothing
        stripped = False
        for prefix in _MOBILE_PREFIXES:
            if host.startswith(prefix) and host.count(".") >= 2:
                host, stripped = host[len(prefix):], True
                break
    netloc = host if port is None or str(port) == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    if parts.hostname and ":" in parts.hostname:  # IPv6 literal
        netloc = f"[{host}]" + ("" if port is None or str(port) == _DEFAULT_PORTS.get(scheme) else f":{port}")
    path = quote(unquote(parts.path), safe="/%:@!$&'()*+,;=~") or "/"
    drop = TRACKING_PARAMS | frozenset(p.lower() for p in extra_tracking)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in drop and not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    query.sort()
    return urlunsplit((scheme, netloc, path, urlencode(query, quote_via=quote, safe="/:@!$'()*+,;=~"), ""))


def link_url(url: str | None, extra_tracking: frozenset[str] | tuple[str, ...] = ()) -> str | None:
    """A link safe to show: http(s) with a host, tracking parameters removed; None for anything else."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or _INVISIBLE.search(url) or any(c in url for c in "<>\"\\ "):
        return None
    drop = TRACKING_PARAMS | frozenset(p.lower() for p in extra_tracking)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() not in drop and not k.lower().startswith(_TRACKING_PREFIXES)]
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path or "/", urlencode(query, quote_via=quote, safe="/:@!$'()*+,;=~"), ""))


def display_text(text: str | None, limit: int = 300) -> str:
    """Feed text fit to show: no markup, no format character (Unicode Cf: bidi, zero-width, tags), one line, at most
    `limit` characters."""
    text = _TAG.sub(" ", text or "")  # feed text never needs markup; what looks like a tag goes
    text = re.sub(r"\s+", " ", _INVISIBLE.sub("", unicodedata.normalize("NFC", text))).strip()
    if not text.isascii():  # _INVISIBLE misses some format characters (U+061C, tag characters); shown text needs none
        text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_text(text: str) -> str:
    """NFC, no control or invisible bidi characters, tidy whitespace, paragraphs kept."""
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[ \t\u3000\xa0]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# Taiwan's and Hong Kong's words for the narratives' subjects, written as the mainland writes them in the simplified
# copy, so rules and terms see one word. A short list on purpose: OpenCC's tw2sp converts IT words wholesale and
# corrupts common ones on real pages (首席執行官 → 首席运行官, 刊登出 → 刊注销, 智慧財產 → 智能财产).
# Each is a regex (guarded where a longer everyday word contains it: 水晶片, 光辉达到, 背光模组) and its mainland form.
MAINLAND_WORDS = (
    ("人工智慧", "人工智能"), ("(?<![光王])辉达(?![到成])", "英伟达"), ("(?<![水])晶片", "芯片"),
    ("(?<![a-z])ai ?资料中心", "AI数据中心"), ("伺服器", "服务器"), ("大型语言模型", "大语言模型"), ("演算法", "算法"),
    ("那斯达克", "纳斯达克"), ("智慧型手机", "智能手机"), ("新创公司", "初创公司"), ("新创企业", "初创企业"),
    ("(?<![a-z])ai ?新创", "AI初创"), ("具身智慧", "具身智能"), ("智慧助手", "智能助手"), ("(?<![背])光模组", "光模块"),
    ("长江储存", "长江存储"), ("位元组跳动", "字节跳动"), ("网际网路", "互联网"),
    ("智慧体(?![育系验制质现会力积量])", "智能体"),
)
_MAINLAND_WORD = re.compile("|".join(f"({pattern})" for pattern, _ in MAINLAND_WORDS), re.I)


def _anchor(pattern: str) -> str:
    """A Taiwan word's Chinese characters, which every match holds; the pattern outside its lookarounds must be
    one run of them, after an optional "ai ?", or the skip would be unsound."""
    bare = re.sub(r"\(\?<?[!=][^()]*\)", "", pattern)
    if not re.fullmatch(f"(?:ai \\?)?[{HAN_CHARS}]+", bare):
        raise ValueError(f"MAINLAND_WORDS: {pattern!r} is not a literal Chinese word with lookarounds")
    return bare.removeprefix("ai ?")


# The Chinese characters every match of each pattern holds: texts with none of them skip the regex, which its
# leading lookbehinds keep from scanning fast (0.5 ms on a page).
_MAINLAND_ANCHORS = tuple(_anchor(pattern) for pattern, _ in MAINLAND_WORDS)


@lru_cache(maxsize=4)
def _converter(config: str) -> opencc.OpenCC:
    """One OpenCC converter per configuration, built once (it loads dictionaries)."""
    return opencc.OpenCC(config)


# Names OpenCC's t2s gets wrong, kept as written: it turns Huawei's 昇腾 (Ascend), in either script, into the
# everyday word 升腾 ("rise"), so a rule or alias for Ascend matched 热气升腾 in any headline.
OPENCC_ERRORS = {"昇騰": "昇腾", "昇腾": "昇腾"}


def to_simplified(text: str, protected: dict[str, str] | None = None) -> str:
    """Simplified-script copy of text in mainland words (MAINLAND_WORDS); OPENCC_ERRORS and `protected` map terms
    OpenCC gets wrong to their forms."""
    protected = OPENCC_ERRORS | (protected or {})
    if not any(term in text for term in protected):
        return _mainland_words(_converter("t2s").convert(text))
    pattern = re.compile("|".join(re.escape(k) for k in sorted(protected, key=len, reverse=True)))
    out, last = [], 0
    for match in pattern.finditer(text):
        out.append(_converter("t2s").convert(text[last:match.start()]))
        out.append(protected[match.group(0)])
        last = match.end()
    out.append(_converter("t2s").convert(text[last:]))
    return _mainland_words("".join(out))


def _mainland_words(simplified: str) -> str:
    """The simplified copy with Taiwan's and Hong Kong's words for the narratives' subjects in mainland words."""
    if not any(anchor in simplified for anchor in _MAINLAND_ANCHORS):
        return simplified
    return _MAINLAND_WORD.sub(lambda m: MAINLAND_WORDS[m.lastindex - 1][1], simplified)


@lru_cache(maxsize=1)
def _one_script_chars() -> tuple[frozenset[str], frozenset[str]]:
    """(traditional-only, simplified-only) Han characters: those OpenCC's t2s, resp. s2t, changes when each stands
    alone (one conversion of every ideograph, newline-separated, instead of two conversions of every text)."""
    chars = [chr(c) for low, high in ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00)) for c in range(low, high)]
    joined = "\n".join(chars)
    to_simple = _converter("t2s").convert(joined).split("\n")
    to_traditional = _converter("s2t").convert(joined).split("\n")
    return (frozenset(c for c, s in zip(chars, to_simple) if s != c),
            frozenset(c for c, s in zip(chars, to_traditional) if s != c))


def changed_by_conversion(han: str) -> tuple[int, int]:
    """(traditional, simplified): how many of these Han characters OpenCC's t2s, resp. s2t, changes, word by word."""
    return (sum(a != b for a, b in zip(han, _converter("t2s").convert(han))),
            sum(a != b for a, b in zip(han, _converter("s2t").convert(han))))


def detect_script(text: str) -> tuple[str, str]:
    """(lang, script) of a text: zh-Hans or zh-Hant by characters only one script has, en, or other."""
    sample = text[:4000]
    han = HAN.findall(sample)
    words = _LATIN_WORD.findall(sample)
    if len(han) >= 20 or (han and len(han) * 2 >= len(words)):
        traditional_only, simplified_only = _one_script_chars()
        traditional = sum(c in traditional_only for c in han)
        simplified = sum(c in simplified_only for c in han)
        if abs(traditional - simplified) <= max(2, (traditional + simplified) // 4):
            # A close call: some characters (干, 后, 里) are simplified alone but traditional in words (干涉,
            # 皇后, 公里), which only converting the text itself, word by word, tells apart.
            traditional, simplified = changed_by_conversion("".join(han))
        return ("zh", "zh-Hant") if traditional > simplified else ("zh", "zh-Hans")
    if words and sum(w.lower() in _ENGLISH_STOPWORDS for w in words) >= max(1, len(words) // 25):
        return "en", "en"
    return "other", "other"


def word_count(text: str) -> int:
    """Words as a reader counts them: Han characters one each, Latin words one each."""
    return len(HAN.findall(text)) + len(_LATIN_WORD.findall(text))


def text_fingerprint(text_simplified: str) -> str:
    """Hash of the text with case, spacing and punctuation removed, so trivial re-formats match."""
    core = "".join(ch for ch in text_simplified.lower() if ch.isalnum())
    return hashlib.sha1(core.encode("utf-8")).hexdigest()


def article_id(canonical: str) -> str:
    """A stable short id derived from the canonical URL."""
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:16]
