"""The narrative rules against readers: `mediamon narratives evaluate`, and floors on real, reader-labelled items."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from conftest import require_shared
from typer.testing import CliRunner

from mediamon.cli import app
from mediamon.evaluation import evaluate, item_from_record
from mediamon.testing import project_config

# What the rules reach on the reader-labelled sets (README "Narratives against readers"); a rule edit that
# lowers one of them fails here, and `mediamon narratives evaluate` shows what it changed.
FLOORS = {
    # ../shared/labels: 208 real items, two readers (the set the first figures came from)
    "dev": {"chinese_ai": (0.90, 0.95), "chip_controls": (0.95, 0.90), "ai_valuations": (0.90, 0.80)},
    # labels/extra_gold.jsonl: 3,909 more real items from ../shared, two of our readers each (batches 6-19 were
    # read while the rules stood still; batches 7 to 11, 15 and 16 then moved them: see labels/README.md). Batch
    # 18's whole articles, whose readers took Chinese AI chips without the controls for none, brought chip
    # controls' precision from 0.88 to 0.83.
    "extra": {"chinese_ai": (0.90, 0.85), "chip_controls": (0.80, 0.85), "ai_valuations": (0.70, 0.70)},
}
FRAME_FLOORS = {"ai_valuations.bubble_correction": (0.6, 0.45), "ai_valuations.growth_opportunity": (0.6, 0.5)}


@pytest.fixture(scope="module")
def shared_sets():
    """The reader-labelled sets, their texts read from ../shared."""
    require_shared("labels")
    require_shared("corpora/feed_archives")
    from mediamon.testing.labelsets import records

    return {name: [item_from_record(r) for r in records(name)] for name in ("dev", "extra")}


@pytest.mark.shared
@pytest.mark.parametrize("name", ["dev", "extra"])
def test_narrative_labels_reach_their_floors_on_real_coverage(shared_sets, name):
    """Precision and recall per narrative against two readers who agreed, on real articles."""
    report = evaluate(shared_sets[name], project_config().analysis)
    for narrative, (min_p, min_r) in FLOORS[name].items():
        score = report.narratives[narrative]
        print(f"{name} {narrative}: P {score.precision:.2f} R {score.recall:.2f} ({score.tp + score.fn} positive)")
        assert score.precision >= min_p and score.recall >= min_r, (name, narrative)


@pytest.mark.shared
@pytest.mark.parametrize("opencc_config", ["s2twp", "s2hk"])
def test_labels_hold_when_the_same_articles_are_written_for_taiwan_or_hong_kong(shared_sets, opencc_config):
    """The readers' simplified-script items in Taiwan's (or Hong Kong's) script and words score as the originals do."""
    import opencc

    convert = opencc.OpenCC(opencc_config).convert
    items = [i for i in shared_sets["dev"] + shared_sets["extra"] if i.lang == "zh-Hans"]
    rewritten = [replace(i, title=convert(i.title), text=convert(i.text), lang="zh-Hant") for i in items]
    assert sum(a.title != b.title for a, b in zip(items, rewritten)) > len(items) / 2  # the conversion did happen
    original, converted = (evaluate(batch, project_config().analysis) for batch in (items, rewritten))
    for narrative, score in original.narratives.items():
        after = converted.narratives[narrative]
        print(f"{opencc_config} {narrative}: R {score.recall:.3f} -> {after.recall:.3f}, "
              f"P {score.precision:.3f} -> {after.precision:.3f}")
        assert after.recall >= score.recall - 0.015 and after.precision >= score.precision - 0.015, narrative


@pytest.mark.shared
def test_frame_labels_reach_their_floors_on_real_coverage(shared_sets):
    """Valuation frames against the readers' frames (labels/FRAMES_GUIDE.md), both sets together."""
    report = evaluate(shared_sets["dev"] + shared_sets["extra"], project_config().analysis)
    for frame, (min_p, min_r) in FRAME_FLOORS.items():
        score = report.frames[frame]
        print(f"{frame}: P {score.precision:.2f} R {score.recall:.2f} ({score.tp + score.fn} positive)")
        assert score.precision >= min_p and score.recall >= min_r, frame


def test_seed_articles_carry_what_two_readers_gave_them():
    """The four seeds (Jan-Mar 2025, the DeepSeek weeks, read whole by two readers who agreed on every label:
    labels/seeds_gold.jsonl) get exactly the readers' narratives and chip-control and valuation frames."""
    from mediamon.testing.labelsets import records

    report = evaluate([item_from_record(r) for r in records("seeds")], project_config().analysis)
    wrong = [(e.kind, e.name, e.item.id) for e in report.errors]
    assert report.items == 4 and not wrong, wrong
    assert sum(s.tp for s in report.narratives.values()) == 11 and sum(s.tp for s in report.frames.values()) == 10


def test_evaluate_prints_scores_then_every_miss_and_false_label(tmp_path):
    """The analyst's view of an edit: P, R, F1 per narrative, then each miss and each false label with its rule
    and the words that fired (or the mentions that were not enough)."""
    items = [
        {"id": "hit", "title": "DeepSeek发布新模型", "text": "深度求索周四发布新一代开源推理模型，训练成本很低。", "lang": "zh-Hans",
         "narratives": ["chinese_ai"]},
        {"id": "false", "title": "Gold hits a record as investors fear a bubble", "text": "Gold rose again.", "lang": "en",
         "narratives": []},
        {"id": "missed", "title": "A quiet week", "text": "Nothing about any narrative here, said the analysts.", "lang": "en",
         "narratives": ["ai_valuations"]},
        {"id": "mention", "title": "Weather report", "text": "It rained all week in the south and the north stayed dry. "
         "The harbour closed for a day. The tide rose. The wind fell. One analyst said DeepSeek changed her job. "
         "Buses ran late. Schools stayed open. The mayor spoke.", "lang": "en", "narratives": ["chinese_ai"]},
    ]
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    result = CliRunner().invoke(app, ["narratives", "evaluate", "--labels", str(path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "chinese_ai" in out and "P" in out and "F1" in out
    assert "MISS  ai_valuations" in out and "missed" in out and "no sentence matches its mention" in out
    assert "MISS  chinese_ai" in out and "mentions only: s" in out and "DeepSeek" in out
    assert "1.00" in out.split("chinese_ai", 1)[1].splitlines()[0]  # the hit counts: precision 1.00


def test_evaluate_names_a_bad_line(tmp_path):
    """A labelled file with a broken line is refused, naming the file and the line."""
    path = tmp_path / "labels.jsonl"
    path.write_text('{"id": 1, "title": "x", "text": "y", "lang": "en", "narratives": []}\n{"id": 2}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["narratives", "evaluate", "--labels", str(path)])
    assert result.exit_code == 2 and "labels.jsonl:2" in result.output and "missing" in result.output


def test_evaluate_shows_the_rule_and_words_of_a_false_label(tmp_path):
    """A false label is listed with the rule that gave it and the words it matched, where."""
    item = {"id": "f1", "title": "Nvidia shares plunge as AI bubble fears grow", "text": "Investors sold chip stocks.",
            "lang": "en", "narratives": []}
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps(item) + "\n", encoding="utf-8")
    out = CliRunner().invoke(app, ["narratives", "evaluate", "--labels", str(path)]).output
    assert "FALSE ai_valuations" in out and "rule headline_or_lead: title: Nvidia" in out


# Everyday headlines that share words with the rules' newer concepts but are not coverage (a review of the
# rules made them up; `labels/README.md` has none of them), and headlines readers did count.
NOT_COVERAGE = [
    "Microsoft shares new details about Windows 11 update",
    "Oracle shares its Java roadmap at JavaOne",
    "Microsoft shares fall after Xbox price hike",
    "甲骨文股价大涨，TikTok美国合资公司敲定",
    "美股三大指数收盘涨跌不一，微软跌10%",
    "歌手李华虹新专辑发布",
    "华虹公司完成董事会换届",
    "中国半导体行业协会召开第十届会员大会",
    "2025中国芯片设计大赛在南京开幕",
    "China's semiconductor output rises 8% in October",
    "Huawei found guilty of violating Iran sanctions, says US court",
    "俄罗斯制裁背景下，华为手机在俄销量增长",
    "UK ban on Huawei 5G gear: operators face sanctions if they miss deadline",
    "华为打压价格，Mate 70降价1000元",
    "华为对问界断供？赛力斯回应",
    "Jensen Huang and Huawei's Richard Yu spotted at Computex dinner",
    # Real headlines of ../shared's archives (haoqi7) that topped a real week's valuations stories before
    # price-move words had to stand beside the company and AI-made clips stopped counting as AI.
    "英伟达 GPU 被曝严重漏洞，致模型准确率暴跌 99.9%",
    "英伟达被曝曾测试 RTX 5090 Ti 级原型卡：仍未采用完整 GB202 核心，功耗飙升至 700W 以上",
    "明查｜特朗普玩崩美股，美联储主席破防？视频由AI生成",
]
COVERAGE = [
    ("黄仁勋称华为史上最强科技公司之一", "chip_controls"),
    ("荣耀前 CEO 赵明回忆华为遭遇制裁：选择把钱留在公司共存亡，与团队并肩作战更重要", "chip_controls"),
    ("荷兰经济大臣就安世半导体接受质询，坦承对中方反制措施“措手不及”", "chip_controls"),
    ("台积电：美国批准向南京工厂供应芯片制造设备", "chip_controls"),
    ("甲骨文股价暴涨 41%，创 1992 年以来最大盘中涨幅", "ai_valuations"),
    ("微软市值登顶全球第一", "ai_valuations"),
    ("英伟达暴跌17%，DeepSeek引发硅谷震动", "ai_valuations"),  # made up: a move beside the company still counts
]


@pytest.mark.parametrize("title", NOT_COVERAGE)
def test_everyday_headlines_that_share_the_rules_words_carry_no_narrative(title):
    """Shares as a verb, a singer named 华虹, Huawei's Iran case, an industry meeting: no label."""
    rulebook = project_config().analysis.rulebook
    assert [(l.narrative, l.rule) for l in rulebook.label(rulebook.document(title, "")) if l.frame is None] == []


@pytest.mark.parametrize("title,narrative", COVERAGE)
def test_headlines_readers_counted_carry_their_narrative(title, narrative):
    """Held-out headlines two readers agreed on, which the rules learned from (batches 15 and 16)."""
    rulebook = project_config().analysis.rulebook
    assert narrative in {l.narrative for l in rulebook.label(rulebook.document(title, ""))}


# Made up in the words of Taiwan's press (川普, 中國大陸, 陸企, 輝達, 晶片, 人工智慧, AI新創, 那斯達克): the
# simplified copy the rules read turns most of them into mainland words, and the concepts list the rest.
TAIWAN_HEADLINES = [
    ("川普政府擬限制輝達AI晶片銷往中國大陸", "chip_controls"),
    ("陸企深度求索推出大型語言模型，矽谷震動", "chinese_ai"),
    ("中國大陸人工智慧新創搶攻大型語言模型", "chinese_ai"),
    ("輝達股價重挫17%，市值蒸發近6000億美元", "ai_valuations"),
    ("AI新創估值飆破千億，投資人搶進", "ai_valuations"),
    ("那斯達克重挫，輝達、台積電ADR同步下跌", "ai_valuations"),
]


@pytest.mark.parametrize("title,narrative", TAIWAN_HEADLINES)
def test_headlines_in_taiwan_words_carry_their_narrative(title, narrative):
    """Taiwan's words for the narratives' subjects label as the mainland's do."""
    from mediamon.normalize import to_simplified

    rulebook = project_config().analysis.rulebook
    assert narrative in {l.narrative for l in rulebook.label(rulebook.document(to_simplified(title), ""))}
