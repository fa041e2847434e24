"""Canonical URLs, script detection, simplified copies and fingerprints."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediamon.normalize import (
    canonical_url,
    clean_text,
    detect_script,
    text_fingerprint,
    to_simplified,
    word_count,
)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("HTTPS://WWW.Example.COM:443/a/b?utm_source=x&id=3#frag", "https://example.com/a/b?id=3"),
        ("http://m.sina.cn/news/1.html?wm=3049&from=qq&spm=a.b.c", "http://sina.cn/news/1.html"),
        ("https://example.com/p?b=2&a=1&fbclid=zz&utm_campaign=y", "https://example.com/p?a=1&b=2"),
        ("https://example.com", "https://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("https://news.example.com/%E4%B8%AD%E5%9B%BD", "https://news.example.com/%E4%B8%AD%E5%9B%BD"),
        ("https://news.example.com/中国", "https://news.example.com/%E4%B8%AD%E5%9B%BD"),
        ("https://m.example.com/", "https://example.com/"),
        ("https://m.co/x", "https://m.co/x"),  # a two-label host keeps its name
    ],
)
def test_canonical_url(url, expected):
    """Scheme and host case, www./mobile hosts, fragments and tracking parameters are normalised."""
    assert canonical_url(url) == expected


def test_extra_tracking_params_from_config():
    """Users can name more parameters to drop."""
    assert canonical_url("https://a.example.com/x?rss=1&id=2", ("rss",)) == "https://a.example.com/x?id=2"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60),
       st.sampled_from(["http://", "https://", "HTTP://WWW."]))
def test_canonical_url_is_idempotent(path, prefix):
    """Canonicalising a canonical URL changes nothing."""
    try:
        once = canonical_url(f"{prefix}example.com/{path}")
    except ValueError:
        return  # urllib refuses some hosts/ports outright; that is not a canonicalisation result
    assert canonical_url(once) == once


def test_script_detection():
    """Simplified, traditional, English and other text are told apart."""
    assert detect_script("美国商务部周二宣布新的出口管制规则，英伟达芯片对华出口需要许可证。") == ("zh", "zh-Hans")
    assert detect_script("美國商務部週二宣布新的出口管制規則，輝達晶片對華出口需要許可證。") == ("zh", "zh-Hant")
    # Characters simplified alone but traditional in these words: a close count is settled by converting the text.
    assert detect_script("干涉內政") == ("zh", "zh-Hant")
    assert detect_script("皇后大道東") == ("zh", "zh-Hant")
    assert detect_script("The Commerce Department said on Tuesday that Nvidia would need a licence.") == ("en", "en")
    assert detect_script("Die Regierung hat neue Regeln für Chips beschlossen, sagte ein Sprecher.")[0] == "other"


def test_simplified_copy_protects_configured_terms():
    """OpenCC turns 昇騰, and even simplified 昇腾, into the everyday 升腾; Ascend keeps its name in every copy, so
    a rule for it no longer matches 热气升腾. Configured terms keep their form too."""
    assert to_simplified("華為昇騰晶片") == "华为昇腾芯片"
    assert to_simplified("昇腾910C") == "昇腾910C"
    assert to_simplified("熱氣升騰") == "热气升腾"
    assert to_simplified("鑽研晶片", {"鑽研": "钻研!"}) == "钻研!芯片"


def test_simplified_copy_uses_mainland_words_for_taiwan_ones():
    """Rules and terms list mainland forms, so Taiwan's words for the same things become them."""
    taiwan = "輝達執行長黃仁勳說，人工智慧新創在AI資料中心部署的伺服器用上了大型語言模型與AI晶片。"
    assert to_simplified(taiwan) == "英伟达执行长黄仁勋说，人工智能新创在AI数据中心部署的服务器用上了大语言模型与AI芯片。"
    assert to_simplified("董事會決定刊登出版首席執行官的智慧財產聲明") == "董事会决定刊登出版首席执行官的智慧财产声明"  # not tw2sp
    assert to_simplified("华为发布人工智能芯片") == "华为发布人工智能芯片"  # simplified text passes unchanged
    assert to_simplified("台灣AI 新創與AI資料中心") == "台湾AI初创与AI数据中心"


@pytest.mark.parametrize("everyday", ["水晶片", "光辉达到顶点", "背光模组厂", "智慧体育公园", "智慧体现在", "记忆体验", "档案资料中心"])
def test_mainland_words_leave_everyday_words_that_contain_them(everyday):
    """A Taiwan word inside a longer everyday word (水晶片 holds 晶片) is left as it is."""
    assert to_simplified(everyday) == everyday


def test_every_mainland_word_holds_the_anchor_that_lets_it_be_looked_for():
    """Texts with none of the words' Chinese anchors skip the regex: each word, written the Taiwan way, has one."""
    from mediamon.normalize import _MAINLAND_ANCHORS, MAINLAND_WORDS

    taiwan_forms = ["人工智慧", "辉达", "晶片", "AI资料中心", "伺服器", "大型语言模型", "演算法", "那斯达克", "智慧型手机",
                    "新创公司", "新创企业", "ai 新创", "具身智慧", "智慧助手", "光模组", "长江储存", "位元组跳动", "网际网路",
                    "智慧体"]
    assert len(taiwan_forms) == len(MAINLAND_WORDS) == len(_MAINLAND_ANCHORS)
    for form, (_, mainland), anchor in zip(taiwan_forms, MAINLAND_WORDS, _MAINLAND_ANCHORS):
        assert anchor in form and to_simplified(form) == mainland, form


def test_a_mainland_word_that_is_not_one_literal_word_is_refused():
    """The skip needs every match to hold the word's characters: an optional or alternative character would not."""
    from mediamon.normalize import _anchor

    assert _anchor("(?<![a-z])ai ?资料中心") == "资料中心" and _anchor("(?<![光王])辉达(?![到成])") == "辉达"
    for pattern in ("智慧型?手机", "[晶矽]片", "人工智慧|AI"):
        with pytest.raises(ValueError, match="MAINLAND_WORDS"):
            _anchor(pattern)


def test_clean_text_strips_invisible_and_bidi_characters():
    """Zero-width and bidi controls from feeds do not survive."""
    assert clean_text("Deep\u200bSeek \u202eevil\u202c\r\n\r\n\r\n\r\nnext") == "DeepSeek evil\n\nnext"


def test_fingerprint_ignores_spacing_and_punctuation():
    """Re-formatted copies of a text share a fingerprint; different texts do not."""
    assert text_fingerprint("英伟达，H20 芯片！") == text_fingerprint("英伟达 H20芯片")
    assert text_fingerprint("英伟达H20") != text_fingerprint("英伟达H800")


def test_word_count_counts_han_characters_and_latin_words():
    """A reader's count: one per Han character, one per Latin word."""
    assert word_count("英伟达 sells H20 chips") == 3 + 3


@pytest.mark.shared
def test_script_table_agrees_with_converting_each_text_on_real_chinese():
    """detect_script counts characters from a table of one-script characters; on every real Chinese item of the
    exposir archives it gives the script that converting the text both ways (what it did before) gives."""
    import gzip
    import json

    from conftest import require_shared

    from mediamon.normalize import HAN, changed_by_conversion

    def by_conversion(text: str) -> str:
        """zh-Hant when t2s changes more characters of the text than s2t does (the old way)."""
        traditional, simplified = changed_by_conversion("".join(HAN.findall(text[:4000])))
        return "zh-Hant" if traditional > simplified else "zh-Hans"

    checked = 0
    for path in sorted(require_shared("corpora/feed_archives/exposir-rss/head").glob("*.json.gz")):
        for item in json.load(gzip.open(path))["items"]:
            text = (item.get("title") or "") + "\n" + (item.get("content_text") or item.get("content_html") or "")
            lang, script = detect_script(text)
            if lang == "zh":
                checked += 1
                assert script == by_conversion(text), text[:80]
    assert checked > 2500  # 2,957 at the time of writing
