-- Stable views for analysts. Re-created on every `mediamon init` / migration run.
-- Weeks are ISO weeks in Asia/Shanghai time; an article without a date, or dated more than a day
-- after it was first seen, is counted in the week it was first seen.

CREATE OR REPLACE VIEW v_articles AS
SELECT
    a.article_id,
    a.source_id,
    a.outlet,
    a.url,
    a.canonical_url,
    a.title,
    a.author,
    a.published_at,
    a.first_seen_at,
    strftime(timezone('Asia/Shanghai',
        CASE WHEN a.published_at IS NULL OR a.published_at > a.first_seen_at + INTERVAL 1 DAY
             THEN a.first_seen_at ELSE a.published_at END), '%G-W%V') AS iso_week,
    a.lang,
    a.script,
    a.text,
    a.text_simplified,
    a.word_count,
    a.is_baseline,
    a.duplicate_of,
    a.extraction,
    a.topics
FROM articles a;

CREATE OR REPLACE VIEW v_feed_status AS
SELECT
    f.feed_id, f.name, f.outlet, f.lang, f.enabled, f.url,
    f.last_polled_at, f.last_success_at, f.last_status, f.last_error, f.failures, f.next_poll_at,
    (SELECT count(*) FROM articles a WHERE a.source_id = f.feed_id) AS articles
FROM feeds f;

CREATE OR REPLACE VIEW v_feed_polls AS
SELECT p.*, r.flow, r.started_at AS run_started_at
FROM feed_polls p LEFT JOIN runs r USING (run_id);
