"""The run steps without Prefect: the in-flight window, URL claims, write batches, errors, and the resend policy."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from mediamon import runs
from mediamon.config import Feed, Sources, load_config
from mediamon.errors import FetchError
from mediamon.models import Article, Entry, FeedHarvest, FeedOutcome, FeedPoll, FeedState
from mediamon.normalize import article_id, text_fingerprint
from mediamon.testing import config_for, project_config
from mediamon.warehouse import Warehouse

NOW = datetime(2025, 2, 5, 8, tzinfo=UTC)


def _sources(n_feeds: int, **pipeline) -> Sources:
    """Sources with `n_feeds` placeholder feeds (never fetched: the tasks are fakes)."""
    feeds = [Feed(id=f"f{i}", name=f"F{i}", outlet=f"Outlet {i}", url=f"https://example.com/{i}.xml", lang="en")
             for i in range(n_feeds)]
    return Sources(topics={"chips": ("H20",)}, feeds=feeds).with_pipeline(**pipeline)


def _entry(feed_id: str, url: str) -> Entry:
    """An on-topic feed entry."""
    return Entry(feed_id, url, url, url, "Nvidia H20 export rules", "", "", None, NOW, ("chips",))


def _article(feed_id: str, url: str) -> Article:
    """The article a harvest of `url` makes (text unique to the URL, so nothing is a duplicate)."""
    text = f"Nvidia H20 export rules tightened, reported at {url}. " * 5
    return Article(article_id(url), feed_id, "Outlet", url, url, "Nvidia H20", None, NOW, NOW, "en", "en", text, text,
                   text_fingerprint(text), len(text.split()), "page", guid=url)


def _done(value=None, error: BaseException | None = None) -> Future:
    """A finished future."""
    future: Future = Future()
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
    return future


@dataclass
class FakeTasks:
    """Poll and harvest as finished futures, recording what was asked and how many were in flight at once."""

    listings: dict[str, list[str]]                       # feed id -> article URLs its feed lists
    poll_errors: dict[str, BaseException] = field(default_factory=dict)
    harvest_errors: dict[str, BaseException] = field(default_factory=dict)
    harvested: list[tuple[str, set[str]]] = field(default_factory=list)  # (feed id, URLs it was told are known)
    in_flight: set = field(default_factory=set)
    most_in_flight: int = 0

    def _track(self, future: Future) -> Future:
        """Count the future as in flight until the run picks it up."""
        self.in_flight.add(future)
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
        return future

    def poll(self, feed: Feed, state) -> Future:
        """A poll that lists this feed's URLs (or fails)."""
        if feed.id in self.poll_errors:
            return self._track(_done(error=self.poll_errors[feed.id]))
        entries = [_entry(feed.id, u) for u in self.listings.get(feed.id, [])]
        return self._track(_done(FeedPoll(FeedOutcome(feed.id, entries_seen=len(entries), on_topic=len(entries)), entries)))

    def harvest(self, poll: FeedPoll, feed: Feed, known: set[str]) -> Future:
        """A harvest of the entries not yet known (or a failure)."""
        self.harvested.append((feed.id, set(known)))
        if feed.id in self.harvest_errors:
            return self._track(_done(error=self.harvest_errors[feed.id]))
        articles = [_article(feed.id, e.canonical_url) for e in poll.entries if e.canonical_url not in known]
        return self._track(_done(FeedHarvest(poll.outcome, articles)))

    def first_done(self, futures: list) -> Future:
        """The oldest submitted future (they are all finished)."""
        future = futures[0]
        self.in_flight.discard(future)
        return future

    def tasks(self) -> runs.FeedTasks:
        """As the run's task submission."""
        return runs.FeedTasks(self.poll, self.harvest, self.first_done)


@dataclass
class FakeIngestStore:
    """The two calls harvest_feeds makes of the warehouse: which URLs are stored, and commit a batch."""

    stored: set[str] = field(default_factory=set)
    batches: list[int] = field(default_factory=list)   # articles per commit

    def known_urls(self, entries) -> set[str]:
        """The entries' URLs already stored."""
        return {e.canonical_url for e in entries} & self.stored

    def commit(self, run_id, harvests, settings, now) -> list[FeedOutcome]:
        """Store the batch's articles (a URL once) and return the outcomes with their counts."""
        self.batches.append(sum(len(h.articles) for h in harvests))
        for h in harvests:
            fresh = {a.canonical_url for a in h.articles} - self.stored
            h.outcome.new_articles = len(fresh)
            self.stored |= fresh
        return [h.outcome for h in harvests]


@dataclass
class FakeWarehouse:
    """A warehouse with only its ingest part (and the reports part the resend policy reads)."""

    ingest: FakeIngestStore = field(default_factory=FakeIngestStore)
    reports: object = None


def _run(sources: Sources, fake: FakeTasks, warehouse=None):
    """Harvest a run over `sources` through the fake tasks, no server and no database; (warehouse, outcomes)."""
    warehouse = warehouse or FakeWarehouse()
    config = config_for(sources)
    run = runs.IngestRun("run-1", NOW, NOW, tuple(sources.feeds), {f.id: FeedState(f.id) for f in sources.feeds})
    return warehouse, runs.harvest_feeds(warehouse, config, run, fake.tasks())


@pytest.fixture
def warehouse(db_path) -> Warehouse:
    """A migrated warehouse."""
    wh = Warehouse(db_path, lock_timeout=1)
    wh.migrate()
    return wh


def test_in_flight_tasks_never_exceed_the_window():
    """However many feeds are due, at most the window's worth of tasks are submitted and not yet collected."""
    sources = _sources(40)
    fake = FakeTasks({f.id: [f"https://news.example/{f.id}/{j}" for j in range(2)] for f in sources.feeds})
    _, outcomes = _run(sources, fake)
    assert len(outcomes) == 40 and sum(o.new_articles for o in outcomes) == 80
    assert 2 <= fake.most_in_flight <= runs.in_flight_window(config_for(sources)) < 40


def test_an_article_two_feeds_list_is_fetched_by_the_first_only():
    """The second feed is told the URL is claimed, so the page is fetched and stored once."""
    shared = "https://news.example/shared-story"
    fake = FakeTasks({"f0": [shared, "https://news.example/a"], "f1": [shared, "https://news.example/b"]})
    _, outcomes = _run(_sources(2), fake)
    known = dict(fake.harvested)
    assert shared not in known["f0"] and shared in known["f1"]
    assert {o.feed_id: o.new_articles for o in outcomes} == {"f0": 2, "f1": 1}


def test_urls_stored_by_an_earlier_run_are_known(warehouse):
    """Against a real warehouse: a second run harvests nothing the first one stored."""
    fake = FakeTasks({"f0": ["https://news.example/a", "https://news.example/b"]})
    config = config_for(_sources(1))
    runs.harvest_feeds(warehouse, config, runs.start_ingest(warehouse, config, "r1", NOW), fake.tasks())
    again = FakeTasks(fake.listings)
    outcomes = runs.harvest_feeds(warehouse, config, runs.start_ingest(warehouse, config, "r2", NOW), again.tasks())
    assert again.harvested[0][1] == {"https://news.example/a", "https://news.example/b"}
    assert outcomes[0].new_articles == 0


def test_results_are_committed_in_batches_of_the_configured_size():
    """With a batch of 5 articles, 12 feeds of 2 articles commit as they go, not once at the end."""
    sources = _sources(12, write_batch_articles=5)
    fake = FakeTasks({f.id: [f"https://news.example/{f.id}/{j}" for j in range(2)] for f in sources.feeds})
    warehouse, outcomes = _run(sources, fake)
    batches = warehouse.ingest.batches
    assert sum(batches) == 24 and len(batches) >= 4 and all(b <= 6 for b in batches)
    assert sum(o.new_articles for o in outcomes) == 24


def test_a_failing_poll_or_harvest_is_recorded_and_the_run_goes_on(warehouse):
    """A classified fetch error and an unexpected bug each become that feed's error; the others are stored (a real
    warehouse, so the poll log is checked too)."""
    sources = _sources(3)
    fake = FakeTasks({f.id: [f"https://news.example/{f.id}"] for f in sources.feeds},
                     poll_errors={"f0": FetchError("https://example.com/0.xml", "connection refused")},
                     harvest_errors={"f1": RuntimeError("extractor bug")})
    config = config_for(sources)
    outcomes = runs.harvest_feeds(warehouse, config, runs.start_ingest(warehouse, config, "run-1", NOW), fake.tasks())
    by_feed = {o.feed_id: o for o in outcomes}
    assert by_feed["f0"].status == "error" and "connection refused" in by_feed["f0"].error
    assert by_feed["f1"].status == "error" and "extractor bug" in by_feed["f1"].error
    assert by_feed["f2"].new_articles == 1
    with warehouse.reader() as con:
        logged = dict(con.execute("SELECT feed_id, status FROM feed_polls").fetchall())
    assert logged == {"f0": "error", "f1": "error", "f2": "ok"}


def test_a_backed_off_feed_is_not_due(warehouse):
    """A feed whose next poll lies after the run's time is skipped by the run."""
    config = config_for(_sources(2))
    runs.start_ingest(warehouse, config, "r0", NOW)
    warehouse.ingest.commit("r0", [FeedHarvest(FeedOutcome("f0", status="error", error="boom"))],
                            config.sources.pipeline, NOW)
    run = runs.start_ingest(warehouse, config, "r1", NOW)
    assert [f.id for f in run.due] == ["f1"]


# --- the digest's resend policy ----------------------------------------------------------------------------------

@dataclass
class FakeReports:
    """The delivery records the resend policy reads and writes."""

    accepted: set[str] = field(default_factory=set)
    sent_at: datetime | None = None

    def digest_sent_at(self, iso_week):
        """When the week was accepted for everyone."""
        return self.sent_at

    def deliveries(self, iso_week):
        """Who accepted the week already."""
        return set(self.accepted)

    def mark_sent(self, iso_week, at):
        """Record the week as sent."""
        self.sent_at = at


@dataclass
class FakeArchived:
    """An archived digest, by its week."""

    iso_week: str = "2025-W06"


def _policy(recipients: tuple[str, ...], reports: FakeReports, force: bool = False) -> tuple[str, list[list[str]]]:
    """Run the resend policy; (what it said, the recipient lists it sent to)."""
    config = project_config()
    config = config.with_sources(config.sources.model_copy(
        update={"digest": config.sources.digest.model_copy(update={"recipients": recipients})}))
    sends: list[list[str]] = []
    said = runs.send_once(FakeWarehouse(reports=reports), config, FakeArchived(), force, sends.append)
    return said, sends


def test_without_recipients_the_digest_is_only_archived():
    """--send with nobody configured sends nothing and says so."""
    assert _policy((), FakeReports()) == ("archived", [])


def test_a_retry_sends_only_to_recipients_not_yet_accepted():
    """One of two recipients accepted before a failure: the retry sends to the other, then marks the week sent."""
    reports = FakeReports(accepted={"a@example.com"})
    said, sends = _policy(("a@example.com", "b@example.com"), reports)
    assert sends == [["b@example.com"]] and said == "sent to 1 recipient(s)" and reports.sent_at is not None


def test_a_week_sent_to_everyone_is_not_sent_again_unless_forced():
    """A second send of a finished week is a no-op; force sends to everyone again."""
    reports = FakeReports(accepted={"a@example.com"}, sent_at=NOW)
    assert _policy(("a@example.com",), reports) == ("already sent", [])
    assert _policy(("a@example.com",), reports, force=True) == ("sent to 1 recipient(s)", [["a@example.com"]])


# --- a whole run in this process -----------------------------------------------------------------------------------

def test_a_whole_ingest_runs_without_prefect(feed_site, sources_file, db_path):
    """runs.ingest polls the loopback site, stores its on-topic articles and records a completed run."""
    config = load_config(sources=sources_file, db=db_path)
    config = config.with_sources(config.sources.with_overrides(allow_private_addresses=True))
    warehouse = Warehouse.configured(config)
    totals = runs.ingest(warehouse, config, "in-process")
    assert totals["status"] == "completed" and totals["feeds"] >= 2 and totals["new_articles"] > 0
    with warehouse.reader() as con:
        stored = con.execute("SELECT count(*) FROM articles").fetchone()[0]
        status = con.execute("SELECT status FROM runs WHERE run_id = 'in-process'").fetchone()[0]
    assert stored >= totals["new_articles"] and status == "completed"
