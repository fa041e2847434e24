-- Analysis: each article's content terms and narrative and frame labels, the configuration they were computed
-- with, and the state of the weekly measures. Run by mediamon.warehouse.analysis (registered Arrow batches:
-- analysed, background, chunk, catalog).

-- name: insert_terms
INSERT INTO article_terms BY NAME SELECT * FROM analysed;

-- name: insert_labels
INSERT INTO article_labels BY NAME SELECT * FROM analysed;

-- Only terms the warehouse has not seen: term_background stays one row per term.
-- name: insert_background
INSERT INTO term_background SELECT b.* FROM background b
WHERE NOT EXISTS (SELECT 1 FROM term_background t WHERE t.term = b.term);

-- name: config_version
SELECT value FROM analysis_state WHERE key = 'config_version';

-- name: article_count
SELECT count(*) FROM articles;

-- name: set_state
INSERT INTO analysis_state VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: clear_terms
DELETE FROM article_terms;

-- name: clear_labels
DELETE FROM article_labels;

-- name: clear_background
DELETE FROM term_background;

-- A changed configuration recounts every week of the measures next time.
-- name: forget_measures
DELETE FROM analysis_state WHERE key = 'measures_key';

-- Texts are stored once: exact copies are analysed through their original.
-- name: originals
SELECT article_id FROM articles WHERE duplicate_of IS NULL ORDER BY article_id;

-- name: chunk
SELECT article_id, title, script, lang, text_simplified, duplicate_of FROM articles
WHERE article_id IN (SELECT article_id FROM chunk);

-- An exact copy carries its original's labels.
-- name: copy_labels
INSERT INTO article_labels BY NAME
SELECT a.article_id, l.narrative, l.frame, l.score, l.matched, l.rule
FROM articles a JOIN article_labels l ON l.article_id = a.duplicate_of;

-- name: label_count
SELECT count(*) FROM article_labels;

-- name: measures_state
SELECT key, value FROM analysis_state WHERE key IN ('measures_key', 'measures_rowid');

-- A full recount starts the kept per-week tables afresh.
-- name: clear_term_week_masks
DELETE FROM term_week_masks;

-- name: clear_term_first_seen
DELETE FROM term_first_seen;

-- name: clear_narrative_week_jsd
DELETE FROM narrative_week_jsd;

-- name: clear_weekly_terms
DELETE FROM weekly_terms;

-- name: last_rowid
SELECT coalesce(max(rowid), -1) FROM articles;

-- name: clear_catalog
DELETE FROM narrative_catalog;

-- name: insert_catalog
INSERT INTO narrative_catalog BY NAME SELECT * FROM catalog;

-- Every original article with the narratives stored for it (frames left out), for `narratives preview`.
-- name: stored_narratives
SELECT a.article_id, a.title, a.script, a.lang, a.text_simplified, a.outlet, a.url,
       list(l.narrative ORDER BY l.narrative) FILTER (WHERE l.narrative IS NOT NULL) AS narratives
FROM articles a LEFT JOIN article_labels l ON l.article_id = a.article_id AND l.frame IS NULL
WHERE a.duplicate_of IS NULL
GROUP BY ALL
ORDER BY a.article_id;
