"""The Boolean query language of narrative rules: syntax, meaning, salience and errors that say where and why."""

from __future__ import annotations

import pytest

from mediamon.rules import Document, RuleError, compile_query, concept_node, matched_words, parse

CONCEPTS = {
    "cn_ai": concept_node("cn_ai", ["DeepSeek", "深度求索", "Qwen"]),
    "chips": concept_node("chips", ["芯片", "chip*", "semiconductor*"]),
    "curbs": concept_node("curbs", ["出口管制", "export control*", "CAPS(US)"]),
}


def matches(query: str, title: str, text: str) -> bool:
    """Whether a query matches a headline and text."""
    return compile_query(query, CONCEPTS).evaluate(Document.from_text(title, text)).matched


@pytest.mark.parametrize("query,title,text,expected", [
    ("DeepSeek", "", "DeepSeek released a model.", True),
    ("deepseek", "", "DEEPSEEK released a model.", True),               # any case
    ("seek", "", "DeepSeek released a model.", False),                  # Latin terms are whole words
    ("求索", "", "深度求索发布模型。", True),                              # Chinese terms match inside words
    ("chip*", "", "Chipmakers fell.", True),                            # a prefix
    ('"export controls"', "", "New export-controls on chips.", True),   # a phrase, hyphen or space
    ("DeepSeek AND chip*", "", "DeepSeek trained it. On chips.", True),
    ("DeepSeek NOT chip*", "", "DeepSeek trained it. On chips.", False),
    ("DeepSeek OR Qwen", "", "Qwen only.", True),
    ("DeepSeek NEAR/s chip*", "", "DeepSeek trained it. On chips.", False),  # not in one sentence
    ("DeepSeek NEAR/p chip*", "", "DeepSeek trained it. On chips.", True),   # but in one paragraph
    ("DeepSeek NEAR/p chip*", "", "DeepSeek trained it.\nOn chips.", False),
    ("DeepSeek NEAR/3 chips", "", "DeepSeek used fewer chips.", True),
    ("DeepSeek NEAR/1 chips", "", "DeepSeek used fewer chips.", False),
    ("深度求索 NEAR/2 芯片", "", "深度求索用了芯片。", True),            # two Chinese characters count as a word
    ("DeepSeek NEAR/3 chips", "", "It was DeepSeek. Fewer chips did it.", True),  # across sentences of a paragraph
    ("DeepSeek NEAR/3 chips", "", "It was DeepSeek.\nChips did it.", False),  # not across paragraphs
    # ... nor from the headline into a text that repeats it (the headline's last word and its first one)
    ("英伟达 NEAR/2 暴跌", "英伟达 GPU 漏洞致准确率暴跌", "英伟达 GPU 漏洞致准确率暴跌", False),
    ("title:DeepSeek", "DeepSeek wins", "Nothing.", True),
    ("title:DeepSeek", "Markets", "DeepSeek wins.", False),
    ("lead:DeepSeek", "Markets", "DeepSeek wins the day.", True),
    ("hlp:(@cn_ai)", "Markets", "A long first sentence here. Another one here too. A third one as well. Qwen.", False),
    ("ATLEAST2(@cn_ai)", "", "DeepSeek one. Qwen two.", True),
    ("ATLEAST2(@cn_ai)", "", "DeepSeek and Qwen in one sentence.", False),
    ("ATLEAST50%(@cn_ai)", "", "DeepSeek one. Other. Other. Other.", False),
    ("CAPS(US) NEAR/s @curbs", "", "Give us export controls.", False),  # "us" is not the US
    ("CAPS(US) NEAR/s @curbs", "", "The US export controls.", True),
    ("@curbs NEAR/s @chips", "", "美国出口管制覆盖芯片。", True),
    ("ATLEAST1(@cn_ai NOT @chips)", "", "DeepSeek chips. DeepSeek app.", True),  # NOT judged per sentence
    ("AI芯片", "", "华为发布 AI 芯片。", True),   # a space where Latin meets Han, as many Chinese pages set it
    ('"AI 芯片"', "", "华为发布AI芯片。", True),
    ("A股", "", "冲击 A 股上市。", True),
    ("AI芯片", "", "华为发布 AIR 芯片。", False),  # still whole Latin words
    ("AI芯片", "", "华为发布 AI  芯片。", False),  # one space, not any gap
])
def test_the_query_language(query, title, text, expected):
    """Terms, phrases, prefixes, Boolean logic, proximity, fields and salience mean what analysts expect."""
    assert matches(query, title, text) is expected


def test_traditional_text_matches_simplified_terms():
    """Rules see the simplified copy: a term written either way matches text written either way."""
    from mediamon.normalize import to_simplified

    query = compile_query("出口管制 NEAR/s 晶片", CONCEPTS, to_simplified)
    assert query.evaluate(Document.from_text("", to_simplified("美國出口管制覆蓋晶片。"))).matched


def test_overlapping_words_are_one_mention():
    """A term inside another ("国产芯片" holds "芯片") does not make a pair near itself."""
    concepts = {"cn": concept_node("cn", ["国产芯片"]), "chips": concept_node("chips", ["芯片"])}
    query = compile_query("@cn NEAR/s @chips", concepts)
    assert not query.evaluate(Document.from_text("", "国产芯片厂商发布涨价函。")).matched
    assert query.evaluate(Document.from_text("", "国产芯片替代进口芯片。")).matched


def test_a_match_says_which_words_and_where():
    """Every match reports its words by sentence: the title, the lead, or s<n>."""
    doc = Document.from_text("DeepSeek 发布新模型", "公司表示训练成本很低。其他内容在这里。它用了国产芯片训练DeepSeek。")
    match = compile_query("@cn_ai OR (@cn_ai NEAR/s @chips)", CONCEPTS).evaluate(doc)
    words = matched_words(match, doc)
    assert words[0] == "title: DeepSeek" and any(w.endswith("芯片 + DeepSeek") or "芯片" in w for w in words[1:])


@pytest.mark.parametrize("query,problem", [
    ("DeepSeek chips", "two terms in a row"),
    ("(DeepSeek OR Qwen", "column"),
    ("", "empty"),
    ("@nowhere", "unknown concept @nowhere"),
    ("DeepSeek NEAR/0 chips", "at least 1"),
    ("ATLEAST0(DeepSeek)", "at least 1"),
    ("(NOT DeepSeek) NEAR/s chips", "each side of NEAR needs words"),
])
def test_bad_queries_say_what_is_wrong(query, problem):
    """A query that cannot be read, or cannot mean anything, is refused with the reason."""
    with pytest.raises(RuleError, match=problem):
        compile_query(query, CONCEPTS)


def test_a_concept_cannot_refer_to_itself():
    """Circular concepts are refused, naming the cycle."""
    concepts = {"a": parse("@b OR x"), "b": parse("@a")}
    with pytest.raises(RuleError, match="refers to itself"):
        compile_query("@a", concepts)


def test_letters_that_match_case_insensitively_beyond_lower_are_still_found():
    """The quick test of which terms can occur misses nothing the full match finds (Turkish İ, Greek)."""
    assert compile_query("istanbul", {}).evaluate(Document.from_text("", "İSTANBUL stocks rally")).matched
    assert compile_query("λόγος", {}).evaluate(Document.from_text("", "ΛΌΓΟΣ")).matched


def test_queries_compiled_one_after_another_on_one_document_keep_their_own_answers():
    """A per-document result is tied to its node, not to a memory address a later query may reuse."""
    doc = Document.from_text("", "DeepSeek wins. Nvidia falls.")
    for i in range(100):
        query = compile_query("DeepSeek AND NOT Nvidia" if i % 2 else "DeepSeek AND NOT Huawei", {})
        assert query.evaluate(doc).matched == (i % 2 == 0)


def test_the_piece_index_finds_what_a_substring_test_finds():
    """A document scanned once for the rulebook's pieces answers as a substring test per term would: the same
    labels and words on texts with case-sensitive terms, prefixes, overlapping pieces and pieces outside the
    index; and a rulebook survives pickling (its automata are rebuilt in the worker)."""
    import dataclasses
    import pickle

    from mediamon.rules import PieceIndex
    from mediamon.testing import project_config
    from mediamon.testing.labelsets import records

    rulebook = project_config().analysis.rulebook
    plain = dataclasses.replace(rulebook, index=None)
    texts = [(r["title"], r["text"]) for r in records("seeds")] + [
        ("US curbs on H20 chips", "The US Commerce Department said Nvidia's H20 needs a licence. 美国商务部称英伟达H20芯片需许可证。"),
        ("DeepSeekV4适配华为升腾", "AI芯片股大涨，寒武纪涨停。deepseek-v4 的训练用上了国产算力。"),
        ("", "us and china: no capitals here, so CAPS(US) must not match."),
    ]
    for title, text in texts:
        indexed, scanned = rulebook.document(title, text), plain.document(title, text)
        assert repr(rulebook.label(indexed)) == repr(plain.label(scanned)), title
    index = PieceIndex([compile_query("CAPS(US) OR chip* OR 芯片", {}).root])
    doc = Document.from_text("", "US chipmakers 芯片", index)
    assert doc.has_piece("chip", False) and doc.has_piece("US", True) and not doc.has_piece("us", True)
    assert not doc.has_piece("huawei", False) and doc.has_piece("makers", False)  # not indexed: looked for directly
    assert index.occurring("a chip", False) == {"chip"} and index._automata  # built on first use
    loaded = pickle.loads(pickle.dumps(rulebook))  # as the extraction processes receive it
    assert loaded.index._automata == {} and loaded.index.pieces == rulebook.index.pieces
    title, text = texts[0]
    assert repr(loaded.label(loaded.document(title, text))) == repr(rulebook.label(rulebook.document(title, text)))


def _rulebook_with(tmp_path, old: str, new: str):
    """Load the project's narratives.yaml with one edit, as a user would make it."""
    from pathlib import Path

    from mediamon.narratives import load_rulebook

    text = (Path(__file__).resolve().parents[1] / "config" / "narratives.yaml").read_text("utf-8")
    assert old in text
    path = tmp_path / "narratives.yaml"
    path.write_text(text.replace(old, new, 1), "utf-8")
    return lambda: load_rulebook(path)


def test_a_broken_rule_names_the_file_line_rule_and_problem(tmp_path):
    """An analyst's typo is refused at load with where it is and what is wrong."""
    from mediamon.errors import ConfigError

    load = _rulebook_with(tmp_path, "sustained: 'ATLEAST3(@mention) AND ATLEAST10%(@mention)'",
                          "sustained: 'ATLEAST3(@mention) AND (@mention'")
    with pytest.raises(ConfigError) as err:
        load()
    message = str(err.value)
    assert "narratives.yaml:" in message and "chinese_ai" in message and "sustained" in message


def test_a_mention_cannot_use_a_field(tmp_path):
    """A mention is one sentence's query: title:() in it would make every sentence of a matching article a
    mention, so it is refused with the rule's place and a way out."""
    from mediamon.errors import ConfigError

    load = _rulebook_with(tmp_path, "    mention: '@cn_ai_mention'", "    mention: '@cn_ai_mention OR title:(DeepSeek)'")
    with pytest.raises(ConfigError, match=r"narratives.yaml.*chinese_ai.*mention.*cannot use title"):
        load()


def test_a_mentions_not_drops_the_sentence_not_the_article():
    """A mention is one sentence's query, wherever a rule asks it: chip controls' NOT rare earths leaves out the
    rare-earths sentence, not an export-control sentence beside it (BBC's summit piece of batch 18 had read as
    "no sentence matches its mention"). A rule's own NOT still speaks for the whole article."""
    from pathlib import Path

    from mediamon.narratives import load_rulebook
    from mediamon.rules import compile_query

    rulebook = load_rulebook(Path(__file__).resolve().parents[1] / "config" / "narratives.yaml")
    mention = rulebook.narrative("chip_controls").mention
    doc = rulebook.document("中美元首会晤协议细节陆续出炉", "在稀土管制方面，中方宣布将暂停实施相关出口管制措施。\n"
                            "对于美方公布的出口管制50%穿透性规则，白宫表示将暂停实施一年。")
    assert mention.evaluate(doc).sentences() == {2}
    assert mention.evaluate(doc, doc.field_scope("lead")).matched  # as hlp:(@mention) asks it
    article_not = compile_query("出口管制 NOT 稀土", {})
    assert not article_not.evaluate(doc).matched


@pytest.mark.parametrize("query,title,text", [
    ("DeepSeek OR (chip* NEAR/s @curbs) OR ATLEAST1(Qwen)", "DeepSeek 的新模型",
     "Qwen 发布。美国的出口管制 chips 收紧。\n无关。DeepSeek 回应。"),
    ("ATLEAST1((chip* NEAR/s @curbs) NOT Qwen) OR @cn_ai", "标题", "Qwen chips 出口管制。DeepSeek chips 出口管制。\n无关。"),
    # an OR's hits stay part by part: NEAR/n pairs across a sentence break and keeps the first four words of each
    ("(alpha OR beta OR eps) NEAR/3 (gamma OR delta OR zeta)", "", "beta delta eps zeta one two three gamma. Alpha x."),
])
def test_a_sentencewise_query_over_a_scope_answers_as_the_walk_without_the_shortcut(monkeypatch, query, title, text):
    """Terms, OR, NEAR/s and ATLEAST1 of a sentence query are answered over a lead or paragraph from each sentence's
    own hits, as the walk answers them: the same hits in the same order and the same matched words."""
    from mediamon import rules

    compiled = compile_query(query, CONCEPTS)
    doc = Document.from_text(title, text)
    scopes = (doc.everything, doc.field_scope("lead"), frozenset({1, 2}), frozenset({3}), frozenset())
    fast = [compiled.evaluate(doc, scope) for scope in scopes]
    monkeypatch.setattr(rules, "_sentencewise", lambda node: False)  # the walk, on a fresh document
    walked_doc = Document.from_text(title, text)
    walked = [compiled.evaluate(walked_doc, scope) for scope in scopes]
    for scope, a, b in zip(scopes, fast, walked):
        assert (a.matched, a.hits) == (b.matched, b.hits), sorted(scope)
        assert matched_words(a, doc) == matched_words(b, walked_doc)
    assert any(m.matched for m in fast)


def test_which_queries_take_the_sentencewise_shortcut():
    """AND and NEAR/n can join sentences, so they are walked; ATLEAST1 of an AND NOT asks each sentence alone."""
    from mediamon.rules import _sentencewise

    assert _sentencewise(compile_query("DeepSeek OR (chip* NEAR/s @curbs)", CONCEPTS).root)
    assert _sentencewise(compile_query("ATLEAST1(chip* NOT Qwen)", CONCEPTS).root)
    assert not _sentencewise(compile_query("DeepSeek AND chip*", CONCEPTS).root)
    assert not _sentencewise(compile_query("DeepSeek NEAR/3 chip*", CONCEPTS).root)


def test_a_mentions_not_inside_a_near_side_drops_the_sentence_and_a_wider_one_is_refused():
    """(a NOT b) NEAR/s c in a mention asks each sentence; ATLEAST2 beside a NOT cannot match one sentence."""
    query = compile_query("(出口管制 NOT 稀土) NEAR/s 美国", {}, mention=True)
    doc = Document.from_text("", "中方宣布暂停稀土出口管制措施。\n美国公布的出口管制规则将暂停实施一年。")
    assert query.evaluate(doc).sentences() == {1}
    with pytest.raises(RuleError, match="one sentence"):
        compile_query("ATLEAST2(芯片) NOT 稀土", {}, mention=True)


def test_and_not_asked_sentence_by_sentence_matches_the_walk_over_each_sentence():
    """An AND NOT inside a sentence query (huawei_sanctions) is answered for all sentences at once, as the walk
    over each one-sentence scope answers it: the sentence naming Iran is left out, the other kept."""
    from mediamon.rules import Compiled, Document, _sentence_local, compile_query

    query = compile_query("ATLEAST1((制裁 NEAR/s 华为) NOT 伊朗)", {})
    doc = Document.from_text("标题", "华为遭遇制裁。\n华为因伊朗制裁案受审。\n无关的句子。")
    part = query.root.part
    assert _sentence_local(part)
    per_sentence = query._per_sentence(part, doc)
    walked = {i: query._eval_node(part, doc, frozenset((i,))) for i in doc.everything}
    assert sorted(per_sentence) == [i for i, m in walked.items() if m.matched]
    assert all(per_sentence[i] == walked[i].hits for i in per_sentence)
    assert isinstance(query, Compiled) and query.evaluate(doc).matched


def test_a_paragraph_counts_in_a_digest_or_a_short_text_but_not_lost_in_a_long_one():
    """Two sentences on Doubao in one paragraph, after a lead about something else, make a Chinese AI label in a
    digest (its headline joins stories with ；) and in a short piece, not among 60 sentences of other things; the
    digest's headline words are a condition, never words of the label (the digest ranks headline words first)."""
    from mediamon.testing import project_config

    rulebook = project_config().analysis.rulebook
    brief = "字节跳动的豆包今天发布了新版本。豆包的日活用户已经超过一亿。"
    other = [f"第{n}项工作稳步推进，各地区各部门认真落实。" for n in range(60)]
    cases = {"8点1氪丨国铁回应加价；苹果发布新品；汽车利润率下降": (other[:30], other[30:]),
             "保险资金发挥长期优势": (other[:30], other[30:]), "一家公司的新进展": (other[:3], [])}
    found = []
    for title, (before, after) in cases.items():
        doc = rulebook.document(title, "".join(before) + "\n" + brief + "\n" + "".join(after))
        found.append({label.narrative: label for label in rulebook.label(doc) if label.frame is None})
    digest, long_piece, short_piece = found
    assert digest["chinese_ai"].rule == "a_paragraph"
    assert not any(word.startswith("title:") for word in digest["chinese_ai"].matched)
    assert "chinese_ai" not in long_piece
    assert short_piece["chinese_ai"].rule == "a_paragraph"
