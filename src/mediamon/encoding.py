"""Turn fetched bytes into correct Unicode, whatever the feed or page claims about its charset."""

from __future__ import annotations

import codecs
import re

import charset_normalizer
from charset_normalizer.md import mess_ratio

# Decode with the superset of what is declared: GB2312 and GBK pages routinely contain GB18030-only
# characters, and Big5 pages carry HKSCS or Microsoft extensions.
_SUPERSETS = {
    "gb2312": "gb18030", "gbk": "gb18030", "cp936": "gb18030", "gb18030": "gb18030",
    "big5": "big5hkscs", "big5hkscs": "big5hkscs", "cp950": "big5hkscs",
    "ascii": "utf-8", "us-ascii": "utf-8",
}
# Declared single-byte Western charsets never fail to decode, so a CJK body mislabelled as one would
# silently become mojibake: for these the bytes are checked before the label is believed.
_SINGLE_BYTE = {"latin-1", "iso8859-1", "cp1252", "iso8859-15", "cp1250"}
# GBK and Big5 bytes very often decode without error in the other codec, into plausible-looking but wrong
# characters (藝弊妀昢 for 美国商务). A declared Chinese codec is therefore checked against its rival.
_CHINESE = ("gb18030", "big5hkscs")
# Codecs Python knows that no web page means by its charset (and that turn bytes into something else).
_NOT_CHARSETS = {"idna", "punycode", "raw-unicode-escape", "unicode-escape", "undefined", "utf-7", "mbcs", "oem"}
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""", re.I)
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I
)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def normalise_codec(label: str | None) -> str | None:
    """The Python codec for a charset label, widened to its superset; None for unknown labels."""
    if not label:
        return None
    try:
        info = codecs.lookup(label.strip().lower())
    except (LookupError, ValueError):  # ValueError: a label with a NUL in it
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return _SUPERSETS.get(info.name, info.name)


def declared_charset(body: bytes) -> str | None:
    """The charset a document declares in its XML prolog or an HTML meta tag (first 4 KB)."""
    head = body[:4096]
    match = _XML_DECL.match(head) or _META_CHARSET.search(head)
    return match.group(1).decode("ascii", "ignore") if match else None


def _try(body: bytes, codec: str | None) -> str | None:
    """Decode strictly, or None if the codec is unknown or the bytes do not fit it."""
    if not codec:
        return None
    try:
        return body.decode(codec)
    except (UnicodeError, LookupError, ValueError):
        return None


def _detect(body: bytes) -> str | None:
    """Guess the codec from the bytes alone."""
    best = charset_normalizer.from_bytes(body[:200_000]).best()
    return normalise_codec(best.encoding) if best else None


def _mess(text: str) -> float:
    """How garbled a text looks (charset_normalizer's mess ratio over its first 20,000 characters)."""
    return mess_ratio(text[:20_000], maximum_threshold=1.0)


def _checked(body: bytes, text: str, codec: str) -> tuple[str, str]:
    """A Chinese codec's decoding, unless UTF-8 or the rival Chinese codec decodes the bytes to clearly cleaner text."""
    if codec not in _CHINESE or not re.search(rb"[\x80-\xff]", body):
        return text, codec
    best, best_codec, best_mess = text, codec, _mess(text)
    for rival in ("utf-8", *(c for c in _CHINESE if c != codec)):
        other = _try(body, rival)
        if other is None:
            continue
        mess = _mess(other)
        if mess + 0.05 < best_mess:  # only a clear difference overrides the declaration
            best, best_codec, best_mess = other, rival, mess
    return best, best_codec


def garbled_share(text: str) -> float:
    """The share of characters that only a wrong decoding makes: U+FFFD, private-use characters and C1 controls."""
    sample = text[:20_000]
    bad = sum(1 for ch in sample if ch == "\ufffd" or "\ue000" <= ch <= "\uf8ff" or "\x80" <= ch <= "\x9f")
    return bad / max(1, len(sample))


def _badness(text: str) -> float:
    """How wrong a decoding looks: garbled characters weigh heavily, then charset_normalizer's mess ratio."""
    return 20 * garbled_share(text) + _mess(text)


def _rescued(body: bytes, text: str, codec: str) -> tuple[str, str]:
    """The decoding itself, unless it looks garbled and UTF-8 or a Chinese codec reads the bytes clearly better.

    A few broken bytes (a page cut mid-character) make a strict GBK or UTF-8 decoding fail; detection then may
    choose a Western codec and every Chinese character turns into two accented letters. Here every candidate is
    read leniently and the least garbled wins, with the broken bytes as U+FFFD."""
    if not re.search(rb"[\x80-\xff]", body) or (codec not in _SINGLE_BYTE and garbled_share(text) < 0.001):
        return text, codec
    best, best_codec, best_badness = text, codec, _badness(text)
    for rival in ("utf-8", *_CHINESE):
        if rival == codec:
            continue
        other = body.decode(rival, errors="replace")
        badness = _badness(other)
        if badness + 0.05 < best_badness:
            best, best_codec, best_badness = other, rival, badness
    return best, best_codec


def decode(body: bytes, http_charset: str | None = None) -> tuple[str, str]:
    """Decode bytes to text and return (text, codec used): BOM, HTTP charset, in-document, UTF-8, detection; a
    result that looks garbled is retried with the rival codecs (`_rescued`)."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            text = _try(body, codec)
            if text is not None:
                return text, codec
    broken = []  # declared codecs the bytes do not strictly fit
    for label in (http_charset, declared_charset(body)):
        codec = normalise_codec(label)
        if codec in _SINGLE_BYTE and re.search(rb"[\x80-\xff]", body):
            guess = "utf-8" if _try(body, "utf-8") is not None else _detect(body)
            if guess and guess not in _SINGLE_BYTE:
                codec = guess
        text = _try(body, codec)
        if text is not None:
            return _rescued(body, *_checked(body, text, codec))  # type: ignore[arg-type]
        if codec in (*_CHINESE, "utf-8"):
            broken.append(codec)
    text = _try(body, "utf-8")
    if text is not None:
        return text, "utf-8"
    for codec in broken:
        # Declared, and nothing else fits either: a few bytes that do not (a cut character) become U+FFFD.
        lenient = body.decode(codec, errors="replace")
        if lenient.count("\ufffd") <= max(2, len(lenient) // 1000):
            return _rescued(body, *_checked(body, lenient, codec))
    codec = _detect(body)
    text = _try(body, codec)
    if text is not None:
        return _rescued(body, text, codec)  # type: ignore[arg-type]
    return _rescued(body, body.decode("utf-8", errors="replace"), "utf-8")


def to_utf8_xml(body: bytes, http_charset: str | None = None) -> tuple[bytes, str]:
    """Re-encode an XML document as UTF-8 with a matching prolog, so a parser cannot mis-decode it."""
    text, codec = decode(body, http_charset)
    text = text.lstrip("\ufeff")
    text = re.sub(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])[A-Za-z0-9._:-]+(["'])""", r"\1utf-8\2", text, count=1)
    return text.encode("utf-8"), codec
