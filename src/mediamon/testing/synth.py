"""Generated corpora with known narrative, frame and volume mixes, for tests and benchmarks.

Every article is written from building blocks: sentences that carry one narrative (and no frame),
sentences that carry one frame, and neutral filler with random numbers so that no two articles are
near-duplicates. What a week contains is set by a WeekPlan, so a test knows the true shifts.
Simplified Chinese, traditional Chinese (OpenCC s2t of the simplified text) and English outlets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import lru_cache

from ..weeks import SHANGHAI, iso_weeks, week_monday
from .replay import Outlet, ReplayItem

__all__ = ["DEFAULT_FRAME_RATES", "WeekPlan", "generate", "iso_weeks"]


NARRATIVE_SENTENCES = {
    "chip_controls": {
        "zh": ["美国商务部更新出口管制规则，又有{n}家中国企业被列入实体清单。",
               "英伟达H20芯片的出口许可证审批再度成为出口管制讨论的焦点。",
               "新的出口管制措施覆盖H800和H20等芯片，涉及{n}个产品型号。",
               "实体清单本周新增{n}个条目，中芯国际和华为昇腾相关企业受到关注。",
               "出口管制规则要求企业在出口H20之前申请许可证。"],
        "en": ["The US Commerce Department widened export controls and added {n} Chinese firms to the entity list.",
               "Licences for Nvidia's H20 chip sit at the centre of the export controls debate.",
               "The new export controls cover the H800 and the H20, {n} product lines in all.",
               "The entity list grew by {n} entries this week, with SMIC and Huawei Ascend suppliers named.",
               "Under the export controls, firms need a license before shipping the H20."],
    },
    "chinese_ai": {
        "zh": ["DeepSeek发布新一代推理模型，第{n}天下载量位居榜首。",
               "阿里巴巴通义千问推出新版本大模型，参数规模约{n}亿。",
               "月之暗面Kimi和智谱相继更新智能体产品。",
               "豆包和混元的大模型团队本周公布了{n}项新功能。",
               "DeepSeek和Qwen在开发者社区的讨论量继续上升。"],
        "en": ["DeepSeek released a new reasoning model that topped the charts for {n} days.",
               "Alibaba's Qwen shipped a new large model with about {n} billion parameters.",
               "Moonshot's Kimi and Zhipu both updated their agent products.",
               "ByteDance's Doubao team announced {n} new features for its large model.",
               "DeepSeek and Qwen keep drawing developers, with {n} thousand new projects."],
    },
    "ai_valuations": {
        "zh": ["英伟达市值一天之内变动约{n}亿美元，投资者重新审视AI估值。",
               "恒生科技指数本周收涨，港股科技股成交额达{n}亿港元。",
               "科技巨头的资本开支计划推高数据中心相关股价。",
               "美股芯片板块的估值分化，纳斯达克指数波动约{n}点。",
               "投资者关注英伟达股价与AI资本开支的关系。"],
        "en": ["Nvidia's market value moved by about {n} billion dollars in a day as investors weighed AI valuations.",
               "The Hang Seng Tech index closed higher, with {n} billion HK dollars of stocks traded.",
               "Big tech capex plans lifted data center shares.",
               "Chip stocks on the Nasdaq split on valuation, with the index moving {n} points.",
               "Investors watched Nvidia's shares against AI capex."],
    },
}

FRAME_SENTENCES = {
    ("chip_controls", "effective_bottleneck"): {
        "zh": ["业内人士称算力缺口扩大，高端芯片短缺已成为瓶颈。", "受限于供应，国内厂商的算力紧缺局面持续，差距难以缩小。"],
        "en": ["Engineers describe a shortage of compute that has become a real bottleneck.", "Labs say they are constrained by the shortage and the lag is growing."]},
    ("chip_controls", "backfire_self_reliance"): {
        "zh": ["分析认为管制反而倒逼国产芯片加速替代。", "这被视为催化剂，本土企业的国产芯片订单明显增加。"],
        "en": ["Analysts say the rules backfired and became a catalyst for homegrown chips.", "The curbs pushed buyers to domestic, indigenous suppliers in a drive for self-reliance."]},
    ("chip_controls", "smuggling_enforcement"): {
        "zh": ["调查人员发现芯片经新加坡和马来西亚转口走私。", "执法部门加强追踪，起诉了多起芯片走私和欺诈案件。"],
        "en": ["Investigators found chips smuggled through Singapore and Malaysia by transshipment.", "Enforcement officers stepped up tracking and charged smuggling and fraud cases."]},
    ("chinese_ai", "cost_efficiency"): {
        "zh": ["其训练成本远低于同行，低成本和开源策略吸引了用户。", "价格战之下，模型降价，性价比成为卖点。"],
        "en": ["Its training cost is a fraction of rivals', and the cheap open-source release drew users.", "A price war made models cheaper, and efficiency became the selling point."]},
    ("chinese_ai", "imitation_distillation"): {
        "zh": ["有人指控其通过蒸馏模仿他人模型，涉嫌违反服务条款。", "批评者称这是快速跟随和复制，而非原创。"],
        "en": ["Critics allege distillation, calling it imitation of rival models.", "Rivals say the lab is copying outputs and acting as a fast follower."]},
    ("chinese_ai", "security_censorship"): {
        "zh": ["多国以隐私和数据传输风险为由在政府设备上禁用该应用。", "用户发现其回答存在审核，敏感问题被封禁。"],
        "en": ["Several governments banned the app over privacy and security risk.", "Users found censorship in its answers, with sensitive topics banned."]},
    ("ai_valuations", "bubble_correction"): {
        "zh": ["市场担忧AI泡沫，估值过高的个股出现崩盘式下跌。", "恐慌情绪蔓延，数千亿美元市值蒸发，回调仍在继续。"],
        "en": ["Fears of an AI bubble grew as overvalued stocks crashed.", "Panic spread, billions were wiped off, and the correction continued."]},
    ("ai_valuations", "growth_opportunity"): {
        "zh": ["机构看好AI增长前景，建议逢低买入，资金持续流入。", "乐观情绪升温，股价创下新高，南向资金抄底。"],
        "en": ["Brokers see a buying opportunity, with growth ahead and inflows rising.", "Optimism returned, shares hit a record and funds bought the dip."]},
}

TITLES = {
    "chip_controls": {"zh": "出口管制观察：第{n}期", "en": "Export controls watch, no. {n}"},
    "chinese_ai": {"zh": "人工智能动态：第{n}期", "en": "Chinese AI roundup, no. {n}"},
    "ai_valuations": {"zh": "AI估值与市场：第{n}期", "en": "AI valuations and markets, no. {n}"},
}

_FILLER_ZH = ("{city}的{firm}在{when}签下第{n}号合同，金额约{m}万元。", "{firm}表示，{city}园区的第{n}期工程已完成{m}个节点。",
              "{when}，{firm}在{city}举办第{n}场发布活动，到场人数约{m}人。", "据{firm}统计，{city}门店第{n}周接待访客{m}人次。")
_FILLER_EN = ("{firm} signed contract no. {n} in {city} {when}, worth about {m} thousand dollars.",
              "{firm} said phase {n} of its {city} campus had passed {m} milestones.",
              "{when}, {firm} held event no. {n} in {city}, drawing about {m} guests.",
              "{firm} counted {m} visitors at its {city} store in week {n}.")
_CITIES_ZH = ("杭州", "深圳", "上海", "成都", "苏州", "合肥", "武汉", "西安")
_CITIES_EN = ("Hangzhou", "Shenzhen", "Shanghai", "Chengdu", "Suzhou", "Hefei", "Wuhan", "Xi'an")
_FIRMS_ZH = ("远航科技", "青松软件", "蓝湾数据", "启明电子", "北辰物流", "华庭材料", "长风制造", "云帆网络")
_FIRMS_EN = ("Yuanhang Tech", "Qingsong Software", "Lanwan Data", "Qiming Electronics", "Beichen Logistics",
             "Huating Materials", "Changfeng Manufacturing", "Yunfan Networks")
_WHEN_ZH = ("周一", "周二", "周三", "周四", "周五", "本周早些时候", "上周末")
_WHEN_EN = ("on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "earlier this week", "last weekend")

OUTLETS = (
    Outlet("synth-hans-a", "合成日报", "zh-Hans", full_text=True), Outlet("synth-hans-b", "合成财经", "zh-Hans", full_text=True),
    Outlet("synth-hant-a", "合成時報", "zh-Hant", full_text=True), Outlet("synth-hant-b", "合成週刊", "zh-Hant", full_text=True),
    Outlet("synth-en-a", "Synth Daily", "en", full_text=True), Outlet("synth-en-b", "Synth Markets", "en", full_text=True),
)
DEFAULT_FRAME_RATES = {
    "chip_controls": {"effective_bottleneck": 0.3, "backfire_self_reliance": 0.3, "smuggling_enforcement": 0.1},
    "chinese_ai": {"cost_efficiency": 0.3, "imitation_distillation": 0.2, "security_censorship": 0.2},
    "ai_valuations": {"bubble_correction": 0.3, "growth_opportunity": 0.3},
}


@dataclass
class WeekPlan:
    """What one ISO week of a generated corpus holds: articles per narrative, frame rates, planted sentences."""

    week: str                                             # e.g. 2025-W37
    articles: dict[str, int]                              # narrative -> articles this week
    frame_rates: dict[str, dict[str, float]] = field(default_factory=lambda: DEFAULT_FRAME_RATES)
    planted: dict[str, tuple[float, dict[str, str]]] = field(default_factory=dict)  # narrative -> (rate, {lang: sentence})


@lru_cache(maxsize=1)
def _s2t():
    """OpenCC simplified -> traditional (Taiwan) converter."""
    import opencc

    return opencc.OpenCC("s2tw")


def _filler(rng: random.Random, lang: str) -> str:
    """A neutral sentence made unique by its numbers."""
    if lang == "en":
        return rng.choice(_FILLER_EN).format(firm=rng.choice(_FIRMS_EN), city=rng.choice(_CITIES_EN),
                                             when=rng.choice(_WHEN_EN), n=rng.randint(10, 9999), m=rng.randint(100, 99999))
    return rng.choice(_FILLER_ZH).format(firm=rng.choice(_FIRMS_ZH), city=rng.choice(_CITIES_ZH),
                                         when=rng.choice(_WHEN_ZH), n=rng.randint(10, 9999), m=rng.randint(100, 99999))


def _article(rng: random.Random, plan: WeekPlan, narrative: str, frames: list[str], planted: str | None,
             outlet: Outlet, serial: int) -> ReplayItem:
    """One generated article."""
    lang = "en" if outlet.lang == "en" else "zh"
    sentences = [s.format(n=rng.randint(2, 999)) for s in rng.sample(NARRATIVE_SENTENCES[narrative][lang], 2)]
    for frame in frames:
        sentences.extend(FRAME_SENTENCES[(narrative, frame)][lang])
    if planted:
        sentences.append(planted)
    sentences.extend(_filler(rng, lang) for _ in range(rng.randint(8, 12)))
    rng.shuffle(sentences)
    paragraphs = tuple((" " if lang == "en" else "").join(sentences[i:i + 3]) for i in range(0, len(sentences), 3))
    title = TITLES[narrative][lang].format(n=serial)
    if outlet.lang == "zh-Hant":
        paragraphs = tuple(_s2t().convert(p) for p in paragraphs)
        title = _s2t().convert(title)
    monday = week_monday(plan.week)
    published = datetime.combine(monday + timedelta(days=rng.randint(0, 6)), time(rng.randint(8, 20), rng.randint(0, 59)),
                                 tzinfo=SHANGHAI)
    return ReplayItem(f"{plan.week.lower()}-{narrative}-{serial}", outlet.id, title, paragraphs, paragraphs[0][:80],
                 published, None, plan.week)


def generate(plans: list[WeekPlan], seed: int = 7, outlets: tuple[Outlet, ...] = OUTLETS) -> list[ReplayItem]:
    """The articles of every planned week. Frame and planted-sentence counts are exact (rate x articles, rounded)."""
    rng = random.Random(seed)
    stories, serial = [], 0
    for plan in plans:
        for narrative, n in plan.articles.items():
            rates = plan.frame_rates.get(narrative, {})
            frame_sets: list[list[str]] = [[] for _ in range(n)]
            for frame, rate in rates.items():
                for i in rng.sample(range(n), round(rate * n)):
                    frame_sets[i].append(frame)
            planted_rate, planted_text = plan.planted.get(narrative, (0.0, {}))
            planted_at = set(rng.sample(range(n), round(planted_rate * n)))
            for i in range(n):
                serial += 1
                outlet = outlets[serial % len(outlets)]
                lang = "en" if outlet.lang == "en" else "zh"
                stories.append(_article(rng, plan, narrative, frame_sets[i],
                                        planted_text.get(lang) if i in planted_at else None, outlet, serial))
    return stories
