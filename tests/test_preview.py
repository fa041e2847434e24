"""`mediamon narratives preview`: what an edit of config/ would change on the stored articles, before a rebuild."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

from typer.testing import CliRunner

from mediamon.analysis import with_analysis
from mediamon.cli import app
from mediamon.config import Feed, PipelineSettings
from mediamon.models import Article, FeedHarvest, FeedOutcome
from mediamon.normalize import article_id, text_fingerprint
from mediamon.testing import project_config
from mediamon.warehouse import Warehouse

NOW = datetime(2025, 2, 5, 8, tzinfo=UTC)
FEED = Feed(id="f1", name="F1", outlet="Outlet", url="https://example.com/f", lang="zh-Hans")


def _article(url: str, title: str, text: str) -> Article:
    """A stored-to-be article, labelled with the project's rules."""
    article = Article(article_id(url), "f1", "Outlet", url, url, title, None, NOW, NOW, "zh", "zh-Hans", text, text,
                      text_fingerprint(text), len(text), "page", guid=url)
    return with_analysis(article, project_config().analysis)


def test_preview_lists_what_an_edited_rule_would_gain_and_changes_nothing_stored(db_path, tmp_path):
    """The project's own rules change nothing; a rule added in a copy of config/ shows its gain, the rule and
    the words, and the warehouse's stored labels stay as they were."""
    warehouse = Warehouse(db_path, lock_timeout=1)
    warehouse.migrate()
    warehouse.ingest.sync_feeds([FEED], NOW)
    controls = _article("http://a.example.com/1", "美国收紧对华芯片出口管制",
                        "美国商务部宣布收紧对华芯片出口管制，英伟达H20芯片需要许可证。")
    watch = _article("http://b.example.com/2", "华为发布新款智能手表", "华为今天发布新款智能手表，续航两周。")
    assert {l.narrative for l in controls.analysis.labels} == {"chip_controls"} and not watch.analysis.labels
    warehouse.ingest.commit("run1", [FeedHarvest(FeedOutcome("f1"), [controls, watch])], PipelineSettings(), NOW)

    runner = CliRunner()
    same = runner.invoke(app, ["narratives", "preview", "--db", str(db_path)])
    assert same.exit_code == 0, same.output
    assert "2 stored articles relabelled; 0 would change" in same.output

    edited = tmp_path / "config"
    shutil.copytree(project_config().analysis.directory, edited)
    rules = (edited / "narratives.yaml").read_text("utf-8")
    anchor = "      china_chip_headline: "
    assert anchor in rules
    rules = rules.replace(anchor, "      watch_headline: 'title:(手表)'\n" + anchor, 1)
    (edited / "narratives.yaml").write_text(rules, "utf-8")
    changed = runner.invoke(app, ["narratives", "preview", "--db", str(db_path), "--config", str(edited)])
    assert changed.exit_code == 0, changed.output
    assert "2 stored articles relabelled; 1 would change" in changed.output
    assert "GAIN chip_controls (1):" in changed.output
    assert "华为发布新款智能手表" in changed.output and "chip_controls: watch_headline: title: 手表" in changed.output
    with warehouse.reader() as con:
        stored = con.execute("SELECT count(*) FROM article_labels WHERE frame IS NULL").fetchone()[0]
    assert stored == 1, "a preview writes nothing"


def test_preview_of_a_missing_warehouse_says_so(tmp_path):
    """No warehouse yet: one clear line, exit 2 (as every command that fails)."""
    result = CliRunner().invoke(app, ["narratives", "preview", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2 and "no warehouse here yet" in result.output
