-- Ingest writes: feeds and their poll state, articles (Arrow batches registered as `cfg`, `batch`,
-- `candidates`, `new_articles`, `hashes`, `polls`), runs. Run by mediamon.warehouse.ingest.

-- name: upsert_feeds
INSERT INTO feeds (feed_id, name, outlet, url, lang, tags, enabled, updated_at)
SELECT feed_id, name, outlet, url, lang, tags, enabled, ? FROM cfg
ON CONFLICT (feed_id) DO UPDATE SET name = excluded.name, outlet = excluded.outlet, url = excluded.url,
    lang = excluded.lang, tags = excluded.tags, enabled = excluded.enabled, updated_at = excluded.updated_at;

-- name: feed_states
SELECT feed_id, etag, last_modified, failures, next_poll_at FROM feeds WHERE feed_id IN (SELECT feed_id FROM cfg);

-- An entry is known when its canonical URL is stored, or its feed already stored its GUID.
-- name: known_urls
SELECT b.canonical_url FROM batch b
WHERE EXISTS (SELECT 1 FROM articles a WHERE a.canonical_url = b.canonical_url)
   OR EXISTS (SELECT 1 FROM articles a WHERE a.source_id = b.source_id AND a.guid = b.guid);

-- name: stored_urls
SELECT canonical_url FROM articles WHERE canonical_url IN (SELECT canonical_url FROM candidates);

-- name: insert_articles
INSERT INTO articles BY NAME SELECT * FROM new_articles;

-- The first stored copy of each text (an exact copy under another URL points at it).
-- name: first_copies
SELECT text_hash, min(article_id) FROM articles
WHERE duplicate_of IS NULL AND text_hash IN (SELECT text_hash FROM hashes)
GROUP BY text_hash;

-- name: insert_polls
INSERT INTO feed_polls BY NAME SELECT * FROM polls;

-- A feed fetched (or answered 304): validators move forward, failures reset.
-- name: feed_succeeded
UPDATE feeds SET etag = coalesce(?, etag), last_modified = coalesce(?, last_modified), last_polled_at = ?,
    last_success_at = ?, last_status = ?, last_error = NULL, failures = 0, next_poll_at = NULL, updated_at = ?
WHERE feed_id = ?;

-- name: feed_failures
SELECT failures FROM feeds WHERE feed_id = ?;

-- A feed failed: count it and back off until next_poll_at.
-- name: feed_failed
UPDATE feeds SET last_polled_at = ?, last_status = 'error', last_error = ?, failures = ?, next_poll_at = ?,
    updated_at = ?
WHERE feed_id = ?;

-- name: record_run
INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id) DO UPDATE SET finished_at = excluded.finished_at, status = excluded.status,
    feeds_ok = excluded.feeds_ok, feeds_failed = excluded.feeds_failed, new_articles = excluded.new_articles,
    duplicates = excluded.duplicates;

-- name: running_runs
SELECT count(*) FROM runs WHERE flow = ? AND status = 'running';

-- name: mark_interrupted
UPDATE runs SET status = 'interrupted', finished_at = ? WHERE flow = ? AND status = 'running';

-- name: baseline_count
SELECT count(*) FROM articles WHERE is_baseline;
