-- Reads for the operator (`mediamon status`) and the digests' own records. The digest's sections are in
-- digest.sql. Run by mediamon.warehouse.reports.

-- name: status_feeds
SELECT feed_id, enabled, last_success_at, last_status, last_error, failures, next_poll_at, articles
FROM v_feed_status ORDER BY failures DESC, feed_id;

-- name: status_runs
SELECT run_id, flow, started_at, finished_at, status, feeds_ok, feeds_failed, new_articles, duplicates
FROM runs ORDER BY started_at DESC LIMIT 10;

-- name: status_weeks
SELECT iso_week, count(*) AS articles, count(DISTINCT story_id) AS stories,
       count(*) FILTER (WHERE duplicate_of IS NOT NULL) AS exact_copies
FROM v_articles WHERE NOT is_baseline GROUP BY iso_week ORDER BY iso_week DESC LIMIT 12;

-- name: status_no_text
SELECT feed_id, url, count(*) AS polls, max(polled_at) AS last_seen
FROM (SELECT feed_id, polled_at, unnest(no_text_urls) AS url FROM v_feed_polls
      WHERE polled_at > now() - INTERVAL 7 DAY)
GROUP BY ALL ORDER BY last_seen DESC LIMIT 20;

-- name: status_digests
SELECT iso_week, built_at, sent_at, html_path FROM digests ORDER BY iso_week DESC LIMIT 5;

-- name: latest_week
SELECT max(iso_week) FROM weekly_narratives;

-- name: deliveries
SELECT recipient FROM digest_deliveries WHERE iso_week = ?;

-- name: record_digest
INSERT INTO digests VALUES (?, ?, ?, ?, ?, ?, NULL)
ON CONFLICT (iso_week) DO UPDATE SET built_at = excluded.built_at, html_path = excluded.html_path,
    eml_path = excluded.eml_path, subject = excluded.subject, html_bytes = excluded.html_bytes;

-- name: record_delivery
INSERT INTO digest_deliveries VALUES (?, ?, ?, ?);

-- name: mark_sent
UPDATE digests SET sent_at = ? WHERE iso_week = ?;

-- name: digest_sent_at
SELECT sent_at FROM digests WHERE iso_week = ?;
