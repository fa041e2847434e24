-- The queries behind each section of the weekly digest. The digest prints each one, with its week
-- filled in, under "Reproduce", so an analyst can re-run any figure. `?` is the ISO week.

-- name: header
SELECT count(*) AS articles, count(DISTINCT story_id) AS stories, count(DISTINCT outlet) AS outlets,
       list(DISTINCT script ORDER BY script) AS scripts,
       count(*) FILTER (WHERE duplicate_of IS NOT NULL) AS exact_copies,
       count(*) FILTER (WHERE published_at IS NULL) AS undated
FROM v_articles WHERE iso_week = ? AND NOT is_baseline;

-- name: trend
SELECT iso_week, week_start, narrative, label, articles, stories, share, baseline_share
FROM v_weekly_narratives
WHERE week_start <= (SELECT max(week_start) FROM v_weekly_narratives WHERE iso_week = ?)
ORDER BY narrative, week_start;

-- name: narratives
SELECT * FROM v_weekly_narratives WHERE iso_week = ? ORDER BY narrative;

-- name: frames
SELECT * FROM v_weekly_frames WHERE iso_week = ? ORDER BY narrative, share DESC, frame;

-- name: terms
SELECT iso_week, narrative, term, docs, prev_docs, z_prev, z_base, new_vs_baseline FROM v_weekly_terms
WHERE iso_week = ? AND narrative <> 'all' AND z_prev IS NOT NULL AND (docs >= 2 OR prev_docs >= 3)
QUALIFY row_number() OVER (PARTITION BY narrative, z_prev > 0 ORDER BY abs(z_prev) DESC, term) <= 5
ORDER BY narrative, z_prev DESC, term;

-- name: stories
WITH week AS (
    SELECT a.story_id, l.narrative, count(*) AS articles, list(DISTINCT a.outlet ORDER BY a.outlet) AS outlets
    FROM v_articles a JOIN article_labels l ON l.article_id = a.article_id AND l.frame IS NULL
    WHERE a.iso_week = ? AND NOT a.is_baseline
    GROUP BY ALL)
SELECT w.narrative, s.title, lead.url, lead.outlet AS lead_outlet, w.outlets, w.articles, s.first_seen_at,
       s.credited_origin, s.story_id
FROM week w JOIN v_stories s USING (story_id) JOIN v_articles lead ON lead.article_id = s.story_id
QUALIFY row_number() OVER (PARTITION BY w.narrative ORDER BY len(w.outlets) DESC, w.articles DESC, s.first_seen_at, s.story_id) <= 3
ORDER BY w.narrative, len(w.outlets) DESC, w.articles DESC;

-- name: new_terms
SELECT term, docs, new_outlets FROM v_weekly_terms
WHERE iso_week = ? AND narrative = 'all' AND is_new_entrant ORDER BY docs DESC, term LIMIT 10;

-- name: new_outlets
SELECT outlet, count(*) FILTER (WHERE iso_week = ?) AS articles FROM v_articles
WHERE NOT is_baseline GROUP BY outlet HAVING min(iso_week) = ? ORDER BY outlet;

-- name: feed_failures
SELECT feed_id, count(*) AS failed_polls, arg_max(error_class || ': ' || coalesce(error, ''), polled_at) AS last_error
FROM v_feed_polls
WHERE status = 'error' AND strftime(timezone('Asia/Shanghai', polled_at), '%G-W%V') = ?
GROUP BY feed_id ORDER BY feed_id;

-- name: polls
SELECT count(*) AS polls, count(*) FILTER (WHERE status = 'error') AS failed,
       coalesce(sum(page_errors), 0) AS page_errors, coalesce(sum(extraction_fallbacks), 0) AS fallbacks,
       coalesce(sum(pages_fetched), 0) AS pages_fetched
FROM v_feed_polls WHERE strftime(timezone('Asia/Shanghai', polled_at), '%G-W%V') = ?;
