-- Stories: MinHash signatures, LSH band keys, links between copies and the story each article belongs to.
-- Run by mediamon.warehouse.stories (registered Arrow batches: sigs, new_bands, wanted, links, touched, old,
-- changed, assigned, chunk, credits).

-- name: insert_signatures
INSERT INTO article_signatures BY NAME SELECT * FROM sigs;

-- name: insert_bands
INSERT INTO article_bands SELECT * FROM new_bands;

-- Candidate pairs: new articles sharing a band key with any article within the window. Constant time bounds
-- let DuckDB skip row groups outside the window (rows arrive in time order).
-- name: candidate_pairs
SELECT DISTINCT n.article_id, s.article_id
FROM new_bands n JOIN article_bands s ON s.band = n.band AND s.band_key = n.band_key
WHERE s.effective_at BETWEEN ? AND ? AND s.article_id <> n.article_id
  AND abs(epoch(s.effective_at) - epoch(n.effective_at)) <= ?;

-- name: stored_signatures
SELECT article_id, signature FROM article_signatures
WHERE effective_at BETWEEN ? AND ? AND article_id IN (SELECT article_id FROM wanted);

-- name: insert_links
INSERT INTO article_links SELECT * FROM links;

-- Every article of the stories the touched articles belong to.
-- name: touched_stories
SELECT article_id, story_id FROM article_stories
WHERE story_id IN (SELECT story_id FROM article_stories WHERE article_id IN (SELECT article_id FROM touched));

-- name: members
SELECT article_id, published_at, first_seen_at, word_count FROM articles
WHERE article_id IN (SELECT article_id FROM old);

-- name: update_stories
UPDATE article_stories SET story_id = c.story_id FROM changed c WHERE article_stories.article_id = c.article_id;

-- name: insert_stories
INSERT INTO article_stories SELECT * FROM assigned;

-- name: clear_links
DELETE FROM article_links;

-- name: clear_bands
DELETE FROM article_bands;

-- name: clear_signatures
DELETE FROM article_signatures;

-- name: clear_stories
DELETE FROM article_stories;

-- Regrouping changes every week's term documents: the measures recount every week next time.
-- name: forget_measures
DELETE FROM analysis_state WHERE key = 'measures_key';

-- name: articles_in_time_order
SELECT article_id FROM articles ORDER BY effective_at(published_at, first_seen_at), article_id;

-- name: chunk
SELECT article_id, published_at, first_seen_at, word_count, duplicate_of, text, text_simplified
FROM articles WHERE article_id IN (SELECT article_id FROM chunk);

-- name: update_credits
UPDATE articles SET credited_origin = c.credited_origin FROM credits c
WHERE articles.article_id = c.article_id AND articles.credited_origin IS DISTINCT FROM c.credited_origin;

-- name: story_count
SELECT count(DISTINCT story_id) FROM article_stories;
