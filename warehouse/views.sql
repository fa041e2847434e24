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
    s.story_id,
    coalesce(s.story_id = a.article_id, false) AS is_story_lead,
    a.credited_origin,
    a.extraction,
    a.topics
FROM articles a
LEFT JOIN article_stories s USING (article_id);

-- One row per story: exact and near-duplicate copies grouped; the lead is the earliest published
-- copy (ties: the longest, then the smallest id), and the story's id is the lead's article_id.
CREATE OR REPLACE VIEW v_stories AS
SELECT
    story_id,
    story_id AS lead_article_id,
    any_value(title) FILTER (WHERE is_story_lead) AS title,
    min(first_seen_at) AS first_seen_at,
    any_value(iso_week) FILTER (WHERE is_story_lead) AS iso_week,
    count(*) AS n_articles,
    count(DISTINCT outlet) AS n_outlets,
    list(DISTINCT outlet ORDER BY outlet) AS outlets,
    list(DISTINCT script ORDER BY script) AS langs,
    -- the credit most copies give; else none (original reporting as far as the texts say)
    mode(credited_origin) AS credited_origin,
    bool_or(is_baseline) AS has_baseline
FROM v_articles
WHERE story_id IS NOT NULL
GROUP BY story_id;

CREATE OR REPLACE VIEW v_feed_status AS
SELECT
    f.feed_id, f.name, f.outlet, f.lang, f.enabled, f.url,
    f.last_polled_at, f.last_success_at, f.last_status, f.last_error, f.failures, f.next_poll_at,
    (SELECT count(*) FROM articles a WHERE a.source_id = f.feed_id) AS articles
FROM feeds f;

CREATE OR REPLACE VIEW v_feed_polls AS
SELECT p.*, r.flow, r.started_at AS run_started_at
FROM feed_polls p LEFT JOIN runs r USING (run_id);
