-- The queries behind each section of the weekly digest, "What shifted" included. The digest prints
-- them under "Reproduce" with the week filled in, so an analyst can re-run any figure. $week is the
-- ISO week ('2025-W21'); the evidence query also takes $narrative, $frame and $limit.

-- name: header
SELECT count(*) AS articles, count(DISTINCT story_id) AS stories, count(DISTINCT outlet) AS outlets,
       list(DISTINCT script ORDER BY script) AS scripts,
       count(*) FILTER (WHERE duplicate_of IS NOT NULL) AS exact_copies,
       count(*) FILTER (WHERE published_at IS NULL) AS undated,
       (SELECT shanghai_iso_week(min(first_seen_at)) FROM articles WHERE NOT is_baseline) AS first_week
FROM v_articles WHERE iso_week = $week AND NOT is_baseline;

-- The share trend, from the first week the warehouse watched: weeks before it hold only what feeds still
-- carried when monitoring began, so they are not drawn as measured weeks.
-- name: trend
SELECT iso_week, week_start, narrative, label, articles, stories, share, baseline_share, on_topic_articles
FROM v_weekly_narratives
WHERE week_start <= (SELECT max(week_start) FROM v_weekly_narratives WHERE iso_week = $week)
  AND week_start >= (SELECT min(shanghai_week(first_seen_at)) FROM articles WHERE NOT is_baseline)
ORDER BY narrative, week_start;

-- name: narratives
SELECT * FROM v_weekly_narratives WHERE iso_week = $week ORDER BY narrative;

-- name: frames
SELECT * FROM v_weekly_frames WHERE iso_week = $week ORDER BY narrative, share DESC, frame;

-- The terms "What shifted" reports: rising, falling and new ones that passed their thresholds.
-- name: shifted_terms
SELECT * FROM v_weekly_terms
WHERE iso_week = $week AND (is_rising OR is_falling OR is_new_entrant)
ORDER BY narrative, z_prev DESC, term;

-- The strongest rising terms per narrative: the words a burst's or share shift's evidence should contain.
-- name: top_terms
SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY narrative ORDER BY z_prev DESC, term) AS rank
    FROM v_weekly_terms WHERE iso_week = $week AND docs >= 2 AND z_prev IS NOT NULL)
WHERE rank <= 5 ORDER BY narrative, rank;

-- name: catalog
SELECT * FROM narrative_catalog ORDER BY narrative, frame NULLS FIRST;

-- name: terms
SELECT iso_week, narrative, term, docs, prev_docs, z_prev, z_base, new_vs_baseline FROM v_weekly_terms
WHERE iso_week = $week AND narrative <> 'all' AND z_prev IS NOT NULL AND (docs >= 2 OR prev_docs >= 3)
QUALIFY row_number() OVER (PARTITION BY narrative, z_prev > 0 ORDER BY abs(z_prev) DESC, term) <= 5
ORDER BY narrative, z_prev DESC, term;

-- The top stories of each narrative: stories whose articles carry it this week, those with the narrative in a
-- headline first, then the most outlets, then the most salient; with the lead's own date.
-- name: stories
WITH week AS (
    SELECT a.story_id, l.narrative, count(*) AS articles, list(DISTINCT a.outlet ORDER BY a.outlet) AS outlets,
           max(l.score) AS salience, bool_or(list_any_value(list_filter(l.matched, m -> starts_with(m, 'title:'))) IS NOT NULL) AS headline
    FROM v_articles a JOIN article_labels l ON l.article_id = a.article_id AND l.frame IS NULL
    WHERE a.iso_week = $week AND NOT a.is_baseline
    GROUP BY ALL)
SELECT w.narrative, s.title, lead.url, lead.outlet AS lead_outlet, w.outlets, w.articles, lead.published_at,
       s.first_seen_at, s.credited_origin, s.story_id, w.salience
FROM week w JOIN v_stories s USING (story_id) JOIN v_articles lead ON lead.article_id = s.story_id
QUALIFY row_number() OVER (PARTITION BY w.narrative ORDER BY w.headline DESC, len(w.outlets) DESC, w.salience DESC,
                                                            w.articles DESC, s.first_seen_at, s.story_id) <= 3
ORDER BY w.narrative, w.headline DESC, len(w.outlets) DESC, w.salience DESC, w.articles DESC;

-- name: new_terms
SELECT term, docs, new_outlets FROM v_weekly_terms
WHERE iso_week = $week AND narrative = 'all' AND is_new_entrant ORDER BY docs DESC, term LIMIT 10;

-- name: new_outlets
SELECT outlet, count(*) FILTER (WHERE iso_week = $week) AS articles FROM v_articles
WHERE NOT is_baseline GROUP BY outlet HAVING min(iso_week) = $week ORDER BY outlet;

-- name: feed_failures
SELECT feed_id, count(*) AS failed_polls, arg_max(error_class || ': ' || coalesce(error, ''), polled_at) AS last_error
FROM v_feed_polls
WHERE status = 'error' AND shanghai_iso_week(polled_at) = $week
GROUP BY feed_id ORDER BY feed_id;

-- name: polls
SELECT count(*) AS polls, count(*) FILTER (WHERE status = 'error') AS failed,
       coalesce(sum(page_errors), 0) AS page_errors, coalesce(sum(extraction_fallbacks), 0) AS fallbacks,
       coalesce(sum(pages_fetched), 0) AS pages_fetched, coalesce(sum(no_text), 0) AS no_text
FROM v_feed_polls WHERE shanghai_iso_week(polled_at) = $week;

-- Pages that gave no usable text (and whose feed had none): not stored, so named here.
-- name: pages_without_text
SELECT feed_id, url, count(*) AS polls
FROM (SELECT feed_id, unnest(no_text_urls) AS url FROM v_feed_polls WHERE shanghai_iso_week(polled_at) = $week)
GROUP BY ALL ORDER BY feed_id, url LIMIT 20;

-- The articles a shift's evidence sentences are drawn from: the week's articles that carry the narrative
-- (and the frame; 'all': any narrative), most salient first. The digest then keeps sentences that match
-- the narrative's or frame's `mention` rule.
-- name: evidence
SELECT a.article_id, coalesce(a.story_id, a.article_id) AS story_id, a.title, a.outlet, a.url, a.text,
       a.text_simplified, max(l.score) AS salience
FROM v_articles a JOIN article_labels l USING (article_id)
WHERE a.iso_week = $week AND NOT a.is_baseline AND a.duplicate_of IS NULL
  AND ($narrative = 'all' AND l.frame IS NULL OR l.narrative = $narrative AND l.frame IS NOT DISTINCT FROM $frame)
GROUP BY ALL
ORDER BY salience DESC, a.article_id
LIMIT $limit;
