"""Text to terms and narrative scores (the foundation of the narratives issue)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mediamon.errors import ConfigError
from mediamon.narratives import load_narratives, score_article
from mediamon.normalize import to_simplified
from mediamon.seeds import load_seeds, read_manifest
from mediamon.terms import term_counts, tokens


def test_aliases_unify_scripts_and_languages():
    """英伟达, 輝達 (via the simplified copy) and Nvidia count as one entity; so do 芯片, 晶片 and chips."""
    zh = tokens(to_simplified("輝達與英偉達的晶片"), "zh") + tokens("英伟达的芯片", "zh")
    en = tokens("Nvidia and NVDA sell chips", "en")
    assert zh.count("Nvidia") == 3 and zh.count("chip") == 2
    assert en.count("Nvidia") == 2 and "chip" in en


def test_user_dictionary_keeps_domain_terms_whole():
    """Domain names that jieba would split stay one term."""
    got = tokens("恒生科技指数大涨，中芯国际与昇腾受益，实体清单扩大", "zh")
    assert {"Hang Seng Tech", "SMIC", "Ascend", "entity list"} <= set(got)


def test_multiword_english_phrases_and_stopwords():
    """'export controls' and 'market cap' become one term; stopwords and single Han characters go."""
    got = tokens("The new export controls cut the market cap of the firm", "en")
    assert "export controls" in got and "market value" in got
    assert "the" not in got and "of" not in got
    assert "的" not in tokens("美国的出口管制", "zh")


def test_term_counts_keep_the_top_terms():
    """Counts are per canonical term, capped to the most frequent."""
    counts = term_counts("英伟达 英伟达 芯片 出口管制", "zh", top=2)
    assert counts == {"Nvidia": 2, "chip": 1} or counts == {"Nvidia": 2, "export controls": 1}


def test_scores_explain_themselves():
    """A narrative score lists the terms, counts and weights that produced it."""
    narratives, frames = score_article({"export controls": 2, "H20": 1, "短缺": 2, "chip": 5})
    chip = next(s for s in narratives if s.name == "chip_controls")
    assert chip.score == 3 * 2 + 2 * 1 + 1 * 3  # chip counts at most three times
    assert chip.explain().startswith("export controls×2 (w3)")
    assert frames["chip_controls"][0].name == "effective_bottleneck"


def test_seeds_carry_the_narratives_and_frames_a_reader_gives_them():
    """Every narrative and frame in the seed manifest is among those the pipeline finds."""
    manifest = {s.file: s for s in read_manifest()}
    for article in load_seeds(datetime.now(UTC), protected={"昇騰": "昇腾"}):
        narratives, frames = score_article(term_counts(article.text_simplified, article.lang, top=100_000))
        seed = manifest[article.guid]
        assert set(seed.narratives) <= {n.name for n in narratives}, article.guid
        carried = {f"{n}.{f.name}" for n, fs in frames.items() for f in fs}
        assert set(seed.frames) <= carried, (article.guid, sorted(carried))


def test_bad_narratives_file_is_refused(tmp_path):
    """A narrative without terms is an error naming the file and key."""
    path = tmp_path / "narratives.yaml"
    path.write_text("narratives:\n  x:\n    label: X\n    terms: {}\n")
    with pytest.raises(ConfigError, match=r"narratives.yaml: x.terms"):
        load_narratives(path)
