"""Decoding: declared or not, GB18030 and Big5 come out as exact Unicode."""

from __future__ import annotations

import pytest

from mediamon.encoding import declared_charset, decode, to_utf8_xml

SIMPLIFIED = "美国商务部周二宣布出口管制新规，英伟达H20芯片对华出口需要许可证，𠮷祥资本表示关注。"
TRADITIONAL = "美國商務部週二宣布出口管制新規，輝達H20晶片對華出口需要許可證，分析師表示關注。"


@pytest.mark.parametrize("codec", ["gb18030"])
def test_undeclared_gb18030_with_a_character_outside_gbk(codec):
    """No declaration anywhere: detection picks GB18030, and 𠮷 (not in GBK) survives."""
    text, used = decode(SIMPLIFIED.encode(codec))
    assert text == SIMPLIFIED and "\ufffd" not in text
    assert used == "gb18030"


def test_undeclared_big5():
    """No declaration anywhere: Big5 is told apart from GBK."""
    text, used = decode(TRADITIONAL.encode("big5"))
    assert text == TRADITIONAL
    assert used == "big5hkscs"


def test_declared_gb2312_is_decoded_as_its_superset():
    """A page that says gb2312 but holds GB18030 characters decodes fully."""
    text, _ = decode(SIMPLIFIED.encode("gb18030"), http_charset="gb2312")
    assert text == SIMPLIFIED


def test_wrong_single_byte_declaration_is_not_believed():
    """A GBK body labelled ISO-8859-1 would decode into mojibake; the bytes win."""
    text, used = decode(SIMPLIFIED.encode("gb18030"), http_charset="iso-8859-1")
    assert text == SIMPLIFIED and used == "gb18030"


def test_wrong_multibyte_declaration_falls_back():
    """A UTF-8 body labelled Big5 does not decode as Big5; the next candidate wins."""
    text, _ = decode(TRADITIONAL.encode("utf-8"), http_charset="big5")
    assert text == TRADITIONAL


def test_http_charset_beats_detection():
    """The HTTP charset is used when the bytes fit it."""
    text, used = decode(TRADITIONAL.encode("big5"), http_charset="big5")
    assert text == TRADITIONAL and used == "big5hkscs"


def test_in_document_declarations_are_read():
    """XML prologs and HTML meta tags name the charset."""
    assert declared_charset(b'<?xml version="1.0" encoding="GB2312"?><rss/>') == "GB2312"
    assert declared_charset(b'<html><head><meta charset="big5"></head>') == "big5"
    assert declared_charset(b'<meta http-equiv="Content-Type" content="text/html; charset=gbk">') == "gbk"


def test_bom_wins():
    """A UTF-8 byte order mark decides."""
    text, used = decode(b"\xef\xbb\xbf" + TRADITIONAL.encode("utf-8"), http_charset="gbk")
    assert text == TRADITIONAL and used == "utf-8-sig"


def test_xml_is_rewritten_as_utf8_with_a_matching_prolog():
    """The parser sees UTF-8 bytes and a prolog that says so."""
    body = f'<?xml version="1.0" encoding="big5"?><rss><title>{TRADITIONAL}</title></rss>'.encode("big5")
    out, codec = to_utf8_xml(body)
    assert codec == "big5hkscs"
    assert out.decode("utf-8").startswith('<?xml version="1.0" encoding="utf-8"?>')
    assert TRADITIONAL in out.decode("utf-8")


def test_undecodable_bytes_never_raise():
    """Random binary still yields text (lossy), never an exception."""
    text, used = decode(bytes(range(256)) * 4)
    assert isinstance(text, str) and used


# --- mojibake: the GB2312 and Big5 cases of ../shared, then the same bytes damaged or mislabelled -----------------

def _shared_cases() -> list[tuple[str, bytes, str, str | None]]:
    """(name, bytes, the codec the bytes really are in, the HTTP charset sent) for ../shared's Chinese cases."""
    import gzip

    from conftest import require_shared

    feeds = require_shared("corpora/feeds/feedparser/tests")
    pages = require_shared("corpora/pages/mozilla-readability/test-pages")
    return [
        ("undeclared big5 feed", (feeds / "illformed/chardet/big5.xml").read_bytes(), "big5hkscs", None),
        ("undeclared gb2312 feed", (feeds / "illformed/chardet/gb2312.xml").read_bytes(), "gb18030", None),
        ("qq page: says gb2312, is UTF-8", gzip.open(pages / "qq/source.html.gz").read(), "utf-8", None),
        ("gmw page", gzip.open(pages / "gmw/source.html.gz").read(), "utf-8", None),
        # The same pages' text in the codecs their publishers use, sent with the header they send.
        ("qq page in GBK, header gbk", gzip.open(pages / "qq/source.html.gz").read().decode("utf-8")
         .encode("gb18030"), "gb18030", "gbk"),
        ("pixnet page in Big5, header big5", gzip.open(pages / "pixnet/source.html.gz").read().decode("utf-8")
         .encode("big5hkscs", "ignore"), "big5hkscs", "big5"),
    ]


def _damaged(body: bytes, codec: str) -> list[tuple[str, bytes, str | None]]:
    """The same Chinese bytes as a page would really break them: cut mid-character, mislabelled, both."""
    middle = len(body) // 2
    cut = body[:middle] + b"\x81" + body[middle:]       # a lone lead byte: strict decoding fails
    rival = "big5" if codec == "gb18030" else "gbk"
    return [("cut mid-character, declared", cut, codec),
            ("cut mid-character, undeclared", cut, None),
            ("labelled with the rival codec", body, rival),
            ("labelled latin-1", body, "iso-8859-1"),
            ("labelled utf-8", body, "utf-8" if codec != "utf-8" else None)]


def test_shared_chinese_cases_never_come_out_as_mojibake():
    """Each of ../shared's GB2312, Big5 and mislabelled cases, whole and damaged, decodes to the right text: at
    most the one broken byte becomes U+FFFD, and no Chinese character turns into Latin letters."""
    import re as regex

    from mediamon.encoding import garbled_share

    for name, body, codec, header in _shared_cases():
        expected = body.decode(codec)
        han = len(regex.findall(r"[\u4e00-\u9fff]", expected))
        assert han >= 5, name
        text, _ = decode(body, header)
        assert text.lstrip("\ufeff") == expected.lstrip("\ufeff"), name
        for how, damaged, label in _damaged(body, codec):
            text, used = decode(damaged, label)
            assert garbled_share(text) * min(len(text), 20_000) <= 1, f"{name}, {how}: decoded as {used}"
            assert len(regex.findall(r"[\u4e00-\u9fff]", text)) >= han - 1, f"{name}, {how}: decoded as {used}"
            assert not regex.search(r"[\u00c0-\u00ff]{3}", text), f"{name}, {how}: Latin mojibake ({used})"
