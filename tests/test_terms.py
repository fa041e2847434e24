"""Text to content terms: names, organisations, products, places and concepts; never function words."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediamon.errors import ConfigError
from mediamon.normalize import to_simplified
from mediamon.terms import COMMON_ZH_FREQ, load_lexicon, term_counts, tokens

CONFIG = Path(__file__).resolve().parents[1] / "config"


@pytest.fixture(scope="module")
def lexicon():
    """The project's lexicon."""
    return load_lexicon(CONFIG)


def test_aliases_unify_scripts_and_languages(lexicon):
    """英伟达, 輝達 (via the simplified copy) and Nvidia count as one entity; so do 阿斯麥, 阿斯麦 and ASML."""
    zh = tokens(to_simplified("輝達與英偉達、阿斯麥"), "zh", lexicon) + tokens("英伟达和阿斯麦", "zh", lexicon)
    en = tokens("Nvidia and NVDA buy from ASML", "en", lexicon)
    assert zh.count("Nvidia") == 3 and zh.count("ASML") == 2
    assert en.count("Nvidia") == 2 and "ASML" in en


def test_a_stoplist_drops_the_narratives_class_words_under_any_variant(lexicon):
    """芯片, 晶片 and chips are one term, chip, and the stoplist names it: a narrative's own class word, in every
    article of it, is not counted (readers judged such words not meaningful as rising terms, labels/terms/)."""
    got = tokens(to_simplified("英偉達的晶片") + "和芯片，人工智能大模型", "zh", lexicon)
    got += tokens("Nvidia sells chips for AI", "en", lexicon)
    assert "Nvidia" in got and not {"chip", "AI", "large model"} & set(got)


def test_user_dictionary_keeps_domain_terms_whole(lexicon):
    """Domain names that jieba would split stay one term."""
    got = tokens("恒生科技指数大涨，中芯国际与昇腾受益，实体清单扩大", "zh", lexicon)
    assert {"Hang Seng Tech", "SMIC", "Ascend", "entity list"} <= set(got)


def test_function_words_common_verbs_and_adjectives_are_not_terms(lexicon):
    """The words a real week's digest wrongly listed as new or rising are not terms at all."""
    listed = "面临 持有 旗下 股东 制造 个股 健康 直接 那么 人类 学习 达到 本周"
    text = "，".join(listed.split()) + "。"
    assert tokens(text, "zh", lexicon) == []
    assert tokens("the company said it would directly achieve more this week", "en", lexicon) == []


def test_content_terms_survive(lexicon):
    """Names, products, organisations and concepts are kept; general-language words are not."""
    got = set(tokens("深度求索发布推理模型，英伟达股价暴跌，泡沫担忧升温，寒武纪估值飙升。中国面临挑战。", "zh", lexicon))
    assert {"DeepSeek", "推理模型", "Nvidia", "bubble"} <= got
    assert "中国" not in got and "面临" not in got  # 中国 is in jieba's dictionary 129,470 times: general language


def test_common_chinese_words_are_measured_by_jiebas_dictionary(lexicon):
    """Every Chinese term kept (outside the user dictionary and aliases) is rarer than COMMON_ZH_FREQ in jieba."""
    import jieba

    text = "国务院国资委研究起草推动央企培育新兴支柱产业工作文件，提出实现国有经济整体布局优化的跨越式发展。"
    for term in tokens(text, "zh", lexicon):
        if term not in lexicon.alias and term not in lexicon.user_words:
            assert jieba.dt.FREQ.get(term, 0) < COMMON_ZH_FREQ, term


def test_multiword_english_phrases_and_stopwords(lexicon):
    """'export controls' and 'capital expenditure' become one term; stopwords and single Han characters go."""
    got = tokens("The new export controls cut the capital expenditure of the firm", "en", lexicon)
    assert "export controls" in got and "capex" in got
    assert "the" not in got and "of" not in got
    assert "的" not in tokens("美国的出口管制", "zh", lexicon)


def test_term_counts_keep_the_top_terms(lexicon):
    """Counts are per canonical term, capped to the most frequent."""
    counts = term_counts("英伟达 英伟达 芯片 出口管制", "zh", lexicon, top=2)
    assert counts == {"Nvidia": 2, "export controls": 1}  # 芯片 is chip, which the stoplist drops


def test_background_share_feeds_the_prior(lexicon):
    """How common a term is: jieba's frequency share for Chinese, the news background for English, 0 for names."""
    assert lexicon.background_share("模型") > lexicon.background_share("寒武纪")
    assert lexicon.background_share("DeepSeek") == 0.0
    assert lexicon.background_share("china") > lexicon.background_share("nvidia") > 0


def test_a_broken_lexicon_is_refused(tmp_path):
    """A config folder without its alias table is an error naming the folder."""
    with pytest.raises(ConfigError, match="cannot read the lexicon"):
        load_lexicon(tmp_path)


SEGMENTATION_SAMPLES = [
    "英伟达推出Blackwell芯片，深度求索发布DeepSeek-R1推理模型，训练成本只有同行的一小部分。",
    "美国商务部收紧对华出口管制，H20芯片需要许可证；华为昇腾和中芯国际加快国产替代。",
    "恒生科技指数大涨，市场担心人工智能泡沫，英伟达市值一天蒸发近6000亿美元。",
    "月之暗面发布Kimi K2.5，通义千问和豆包的用户数继续增长，蝴蝶效应推出Manus。",
    "他说：「这不是第一次。」然后离开了会场，没有回答记者的问题。",
]


def _jieba_with_userdict():
    """Python jieba with the project's user dictionary: the reference the fast segmenter must match."""
    from mediamon.terms import _jieba

    return _jieba(*load_lexicon(CONFIG).dictionary)


def test_fast_segmenter_cuts_as_jieba_does():
    """jieba-rs (what tokens() uses) cuts as jieba.lcut(HMM=False) does, user dictionary included."""
    from mediamon.terms import _segmenter

    jieba = _jieba_with_userdict()
    segmenter = _segmenter(*load_lexicon(CONFIG).dictionary)
    for text in SEGMENTATION_SAMPLES:
        assert segmenter.cut(text.lower(), False) == jieba.lcut(text.lower(), HMM=False), text
    assert "深度求索" in segmenter.cut("深度求索的蝴蝶效应", False)  # user-dictionary words stay whole
    assert "字节跳动" in segmenter.cut("字节跳动的豆包", False)  # and so do the alias table's


@pytest.mark.shared
def test_fast_segmenter_cuts_real_articles_as_jieba_does():
    """On the reader-labelled real items of ../shared, jieba-rs and jieba cut at least 99.5% of texts alike
    (the rest differ where two cuts score the same, e.g. 接接接)."""
    from conftest import require_shared

    from mediamon.terms import _segmenter

    require_shared("labels")
    require_shared("corpora/feed_archives")
    from mediamon.testing.labelsets import records

    jieba = _jieba_with_userdict()
    segmenter = _segmenter(*load_lexicon(CONFIG).dictionary)
    texts = [(r["title"] + "\n" + r["text"]).lower() for r in records("all") if r["lang"].startswith("zh")]
    same = sum(segmenter.cut(t, False) == jieba.lcut(t, HMM=False) for t in texts)
    print(f"{same} of {len(texts)} real texts cut alike")
    assert len(texts) > 1000 and same >= 0.995 * len(texts)


def test_user_dictionary_lines_read_as_jieba_reads_them(tmp_path):
    """Word alone, with a frequency, a tag or both, a word with a space, a byte-order mark and a comment: the
    segmenter, jieba's tags and the lexicon's user words all get the same entries."""
    from mediamon.terms import _user_entries

    path = tmp_path / "userdict.txt"
    path.write_text("\ufeff深度求索 2000 nz\n# a comment\n摩尔线程\n月之暗面 nt\nOpen AI 300 nz\n泡泡玛特 50\n\n", "utf-8")
    assert _user_entries(str(path)) == (("深度求索", 2000, "nz"), ("摩尔线程", None, None), ("月之暗面", None, "nt"),
                                        ("Open AI", 300, "nz"), ("泡泡玛特", 50, None))


def test_common_nouns_are_not_terms_but_names_and_listed_concepts_are(lexicon):
    """jieba's common nouns (代码, 硬件, 瓶颈, 开发者) are not terms: readers judged them generic (labels/terms/). Names
    jieba tags as such (华尔街) and the alias table's names and concepts (字节跳动, 黄仁勋, 后门) are."""
    got = tokens("开发者说代码和硬件是瓶颈。华尔街关注字节跳动、黄仁勋和芯片后门。", "zh", lexicon)
    assert got == ["华尔街", "ByteDance", "Jensen Huang", "backdoor"]


def test_alias_variants_are_words_to_the_segmenter(lexicon):
    """A Chinese alias variant jieba does not know (谷歌, 摩尔线程) is cut whole, so its alias applies."""
    assert tokens("谷歌与摩尔线程", "zh", lexicon) == ["Google", "Moore Threads"]


def test_web_addresses_leave_no_pieces(lexicon):
    """Addresses leave no term (github, com, www); a bare domain in prose names its owner (Amazon.com, C3.ai)."""
    text = "代码见 https://github.com/deepseek-ai/DeepSeek-V3见附件，或访问36kr.com、写信给a@b.cn。DeepSeek称"
    assert tokens(text, "zh", lexicon) == ["DeepSeek"]
    assert tokens("See https://www.reuters.com/tech/nvidia-h20 and reuters.com. Nvidia said.", "en", lexicon) == ["Nvidia"]
    assert tokens("Shares of Amazon.com Inc. and C3.ai rose.", "en", lexicon) == ["Amazon", "c3"]


def test_names_that_are_also_words_count_only_capitalised(lexicon):
    """Apple, Trump and Intel, written only capitalised in the alias table, are not an apple, to trump or intel."""
    assert tokens("the apple of his eye; concerns trump trade; intel from spies", "en", lexicon) == []
    assert tokens("Shares of Apple fell as Trump met Intel.", "en", lexicon) == ["Apple", "Trump", "Intel"]


def test_dictionary_words_that_contain_a_name_keep_it_out(lexicon):
    """AI's 寒武纪大爆发 (Cambrian explosion) is not Cambricon, and 数万亿字节 (bytes) is not ByteDance."""
    assert tokens("AI的寒武纪大爆发，数万亿字节的数据，寒武纪股价", "zh", lexicon) == ["Cambricon"]


def test_a_second_configuration_gets_the_same_cuts_from_both_segmenters(lexicon, tmp_path):
    """jieba's dictionary is one per process: words an earlier configuration added still reach a later one's
    jieba-rs, so its cuts match jieba's tags (黄仁勋 stays whole)."""
    import shutil

    copy = tmp_path / "config"
    shutil.copytree(CONFIG, copy)
    assert tokens("黄仁勋称谷歌与字节跳动", "zh", lexicon) == ["Jensen Huang", "Google", "ByteDance"]
    assert tokens("黄仁勋称谷歌与字节跳动", "zh", load_lexicon(copy)) == ["Jensen Huang", "Google", "ByteDance"]


def test_foreign_names_written_with_an_interpunct_count_by_surname(lexicon):
    """马克·扎克伯格 is 扎克伯格 (jieba cuts it 扎克 伯格), never the fragment 马克; 唐纳德·特朗普 is Trump."""
    assert tokens("马克·扎克伯格和埃隆·马斯克表示", "zh", lexicon) == ["扎克伯格", "马斯克"]
    assert tokens("唐纳德·特朗普政府与杰弗里·辛顿认为", "zh", lexicon) == ["Trump", "辛顿"]
    assert tokens("华为·鸿蒙发布会，苹果·谷歌齐跌", "zh", lexicon) == ["Huawei", "鸿蒙", "Apple", "Google"]  # a separator


def test_credited_names_are_bylines_not_terms(lexicon):
    """作者｜连冉编辑｜郑玄如果… glues the credits to the text: the names after the labels are not terms, and the
    words after them still are (特斯拉 after 郑玄)."""
    assert tokens("作者｜连冉编辑｜郑玄如果不说明。作者｜Li Yuan编辑｜徐青阳 当地时间", "zh", lexicon) == []
    assert tokens("作者｜曹思颀编辑｜郑玄特斯拉正迈入新阶段", "zh", lexicon) == ["Tesla"]
