-- The weekly measures: brought up to date in one transaction after every ingest run (and by
-- `mediamon narratives refresh`).
-- Dollar-sign placeholders are the validated settings of config/narratives.yaml `measures:`.
-- Analysts read the results through v_weekly_narratives, v_weekly_frames, v_weekly_terms and
-- v_weekly_outlets (warehouse/views.sql), which document every column.
--
-- Definitions
--   week        ISO week (Monday start) in Asia/Shanghai time of the article's date; an article without
--               a date, or dated more than a day after it was first seen, counts in the week first seen.
--   on-topic    an article the topic filter kept (topics non-empty) or that carries a narrative.
--   articles    every stored copy counts (syndication is coverage); stories count each story once.
--   term docs   term figures count documents, not occurrences, and one document per story and week:
--               a wire story syndicated by ten outlets, or one article repeating a word, is one vote.
--   baseline    the seed articles (is_baseline); they are never part of the weekly series.

-- Every article with its week, story and language group.
CREATE OR REPLACE TEMP TABLE m_articles AS
SELECT
    a.article_id, a.rowid AS seq, a.outlet, a.is_baseline, a.duplicate_of,
    coalesce(s.story_id, a.article_id) AS story_id,
    CASE WHEN a.script IN ('zh-Hans', 'zh-Hant') THEN 'zh' WHEN a.script = 'en' THEN 'en' ELSE 'other' END AS lang_group,
    shanghai_week(effective_at(a.published_at, a.first_seen_at)) AS week_start,
    (len(a.topics) > 0 OR n.article_id IS NOT NULL) AS on_topic
FROM articles a
LEFT JOIN article_stories s USING (article_id)
LEFT JOIN (SELECT DISTINCT article_id FROM article_labels WHERE frame IS NULL) n USING (article_id);

CREATE OR REPLACE TEMP TABLE m_narr AS
SELECT article_id, narrative FROM article_labels WHERE frame IS NULL;

-- Every week from the first to the last non-baseline week, so that quiet weeks count as zero.
CREATE OR REPLACE TEMP TABLE m_weeks AS
SELECT CAST(w AS DATE) AS week_start, row_number() OVER (ORDER BY w) - 1 AS week_index
FROM range(
    (SELECT CAST(min(week_start) AS TIMESTAMP) FROM m_articles WHERE NOT is_baseline),
    (SELECT CAST(max(week_start) AS TIMESTAMP) FROM m_articles WHERE NOT is_baseline) + INTERVAL 7 DAY,
    INTERVAL 7 DAY) t(w);

CREATE OR REPLACE TEMP TABLE m_week_totals AS
SELECT w.week_start, w.week_index,
    count(a.article_id) FILTER (WHERE a.on_topic) AS on_topic_articles,
    count(a.article_id) FILTER (WHERE a.on_topic AND a.lang_group = 'zh') AS on_topic_zh,
    count(a.article_id) FILTER (WHERE a.on_topic AND a.lang_group = 'en') AS on_topic_en,
    count(DISTINCT a.outlet) AS outlets_collected
FROM m_weeks w LEFT JOIN m_articles a ON a.week_start = w.week_start AND NOT a.is_baseline
GROUP BY w.week_start, w.week_index;

-- Term counts are kept per week (term_week_masks) and recounted only for the weeks of the stories
-- that gained articles since the last refresh ($watermark is the articles' rowid then; -1 recounts
-- everything, as after a change of configuration). Term statistics are then recomputed from the
-- first of those weeks on, reading $lookback_weeks weeks before it.
CREATE OR REPLACE TEMP TABLE m_dirty AS
SELECT DISTINCT a.week_start, a.is_baseline FROM m_articles a
WHERE a.story_id IN (SELECT story_id FROM m_articles WHERE seq > $watermark);

-- Narratives as bits, so that each article's terms join once, not once per narrative it carries.
CREATE OR REPLACE TEMP TABLE m_bits AS
SELECT narrative, (row_number() OVER (ORDER BY narrative) - 1)::INTEGER AS bit
FROM narrative_catalog WHERE frame IS NULL;

CREATE OR REPLACE TEMP TABLE m_mask AS
SELECT l.article_id, bit_or(1 << b.bit)::INTEGER AS mask
FROM article_labels l JOIN m_bits b USING (narrative)
WHERE l.frame IS NULL
GROUP BY l.article_id;

-- One document per story and week (texts stored once: exact copies carry no terms).
CREATE OR REPLACE TEMP TABLE m_docs AS
SELECT d.article_id, d.week_start, d.is_baseline, d.outlet, coalesce(m.mask, 0) AS mask FROM (
    SELECT article_id, week_start, is_baseline, outlet,
           row_number() OVER (PARTITION BY story_id, week_start, is_baseline ORDER BY article_id) AS k
    FROM m_articles WHERE duplicate_of IS NULL AND on_topic) d
LEFT JOIN m_mask m USING (article_id)
WHERE d.k = 1;

-- Term documents per week and narrative set, for the dirty weeks: the one pass over article_terms.
DELETE FROM term_week_masks
WHERE EXISTS (SELECT 1 FROM m_dirty d WHERE d.week_start = term_week_masks.week_start AND d.is_baseline = term_week_masks.is_baseline);
INSERT INTO term_week_masks
SELECT d.week_start, d.is_baseline, d.mask, t.term, count(*)::INTEGER AS docs
FROM article_terms t
JOIN (SELECT m.* FROM m_docs m JOIN m_dirty USING (week_start, is_baseline)) d USING (article_id)
GROUP BY ALL;

-- The weeks whose term statistics are recomputed: from the first dirty week (all when the baseline changed).
CREATE OR REPLACE TEMP TABLE m_span AS
SELECT CASE WHEN EXISTS (SELECT 1 FROM m_dirty WHERE is_baseline) THEN 0
            ELSE coalesce((SELECT min(w.week_index) FROM m_weeks w JOIN m_dirty d ON d.week_start = w.week_start AND NOT d.is_baseline),
                          (SELECT max(week_index) + 1 FROM m_weeks)) END AS first_out;

-- Per narrative ('all' = all on-topic coverage), for the weeks read and for the baseline.
CREATE OR REPLACE TEMP TABLE m_terms AS
WITH src AS (
    SELECT m.* FROM term_week_masks m JOIN m_weeks w USING (week_start)
    WHERE NOT m.is_baseline AND w.week_index >= (SELECT first_out FROM m_span) - $lookback_weeks)
SELECT m.week_start, b.narrative, m.term, sum(m.docs)::INTEGER AS docs
FROM src m JOIN m_bits b ON (m.mask >> b.bit) & 1 = 1
GROUP BY ALL
UNION ALL
SELECT week_start, 'all', term, sum(docs)::INTEGER FROM src GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE m_base_terms AS
SELECT b.narrative, m.term, sum(m.docs)::INTEGER AS docs
FROM term_week_masks m JOIN m_bits b ON (m.mask >> b.bit) & 1 = 1
WHERE m.is_baseline
GROUP BY ALL
UNION ALL
SELECT 'all', term, sum(docs)::INTEGER FROM term_week_masks WHERE is_baseline GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE m_totals AS
SELECT week_start, narrative, sum(docs)::BIGINT AS total FROM m_terms GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE m_base_totals AS
SELECT narrative, sum(docs)::BIGINT AS total FROM m_base_terms GROUP BY ALL;

-- The first week each term was used, across all weeks. A recount can only change it for terms first
-- seen in a recounted week (recomputed from the kept counts) and for terms never seen before (their
-- first recounted week).
CREATE OR REPLACE TEMP TABLE m_dirty_terms AS
SELECT narrative, term, min(week_start) AS first_week FROM m_terms
WHERE week_start IN (SELECT week_start FROM m_dirty WHERE NOT is_baseline)
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE m_first_dirty AS
SELECT narrative, term FROM term_first_seen WHERE first_week IN (SELECT week_start FROM m_dirty WHERE NOT is_baseline);

DELETE FROM term_first_seen
WHERE first_week IN (SELECT week_start FROM m_dirty WHERE NOT is_baseline);
INSERT INTO term_first_seen
SELECT f.narrative, f.term, min(m.week_start)
FROM m_first_dirty f
JOIN term_week_masks m ON m.term = f.term AND NOT m.is_baseline
LEFT JOIN m_bits b ON b.narrative = f.narrative
WHERE f.narrative = 'all' OR (m.mask >> b.bit) & 1 = 1
GROUP BY ALL;
INSERT INTO term_first_seen
SELECT d.narrative, d.term, d.first_week FROM m_dirty_terms d
WHERE NOT EXISTS (SELECT 1 FROM term_first_seen f WHERE f.narrative = d.narrative AND f.term = d.term);

-- Each term's weekly series in one window pass (keyed by a 64-bit hash: sorting fixed-width keys is
-- cheap): the previous $lookback_weeks weeks pooled, last week's count, and, for a term that is
-- missing the next week, what that week's "previous weeks" would hold.
CREATE OR REPLACE TEMP TABLE m_series AS
SELECT t.narrative, t.term, w.week_index, t.docs,
    coalesce(sum(t.docs) OVER prev, 0)::INTEGER AS prev_docs,
    sum(t.docs) OVER upto::INTEGER AS prev_docs_next,
    CASE WHEN lag(w.week_index) OVER ordered = w.week_index - 1 THEN lag(t.docs) OVER ordered END AS last_docs,
    lead(w.week_index) OVER ordered AS next_index
FROM m_terms t JOIN m_weeks w USING (week_start)
WINDOW ordered AS (PARTITION BY hash(t.narrative, t.term) ORDER BY w.week_index),
       prev AS (PARTITION BY hash(t.narrative, t.term) ORDER BY w.week_index
                RANGE BETWEEN $lookback_weeks PRECEDING AND 1 PRECEDING),
       upto AS (PARTITION BY hash(t.narrative, t.term) ORDER BY w.week_index
                RANGE BETWEEN $lookback_weeks - 1 PRECEDING AND CURRENT ROW);

-- The rows that can be judged, in the recomputed weeks: used in $term_min_docs or more stories this
-- week, or used before and (nearly) gone now, including the week right after a term vanished.
CREATE OR REPLACE TEMP TABLE m_candidates AS
SELECT narrative, term, week_index, docs, prev_docs FROM m_series
WHERE week_index >= (SELECT first_out FROM m_span) AND (docs >= $term_min_docs OR prev_docs >= 2 * $term_min_docs)
UNION ALL
SELECT narrative, term, week_index + 1, 0, prev_docs_next FROM m_series
WHERE week_index + 1 >= (SELECT first_out FROM m_span)
  AND docs >= $term_min_docs AND coalesce(next_index, 1 << 30) > week_index + 1
  AND week_index + 1 <= (SELECT max(week_index) FROM m_weeks) AND prev_docs_next >= 2 * $term_min_docs;

CREATE OR REPLACE TEMP TABLE m_prev_totals AS
SELECT w.week_index, n.narrative,
    coalesce(sum(t.total) FILTER (WHERE tw.week_index BETWEEN w.week_index - $lookback_weeks AND w.week_index - 1), 0)::BIGINT AS prev_total
FROM m_weeks w
CROSS JOIN (SELECT DISTINCT narrative FROM m_totals) n
LEFT JOIN m_totals t ON t.narrative = n.narrative
LEFT JOIN m_weeks tw ON tw.week_start = t.week_start
WHERE w.week_index >= (SELECT first_out FROM m_span)
GROUP BY ALL;

-- Rising and falling terms: this week against the previous weeks and against the baseline. The
-- informative Dirichlet prior of a term (Monroe et al. 2008, 3.5) is scaled to $prior_weight pseudo-documents
-- and shares it out half by the term's share of the documents compared (this week, the previous weeks,
-- the baseline) and half by its share of general language (term_background: jieba's dictionary, or an
-- English news background). A common word thus carries a heavy prior and cannot rise on a short history.
CREATE OR REPLACE TEMP TABLE t_weekly_terms AS
WITH scored AS (
    SELECT s.*, w.week_start,
           coalesce(tot.total, 0) AS total, coalesce(pt.prev_total, 0) AS prev_total,
           coalesce(b.docs, 0) AS base_docs, coalesce(bt.total, 0) AS base_total, f.first_week
    FROM m_candidates s
    JOIN m_weeks w USING (week_index)
    LEFT JOIN term_first_seen f ON f.narrative = s.narrative AND f.term = s.term
    LEFT JOIN m_totals tot ON tot.week_start = w.week_start AND tot.narrative = s.narrative
    LEFT JOIN m_prev_totals pt ON pt.week_index = s.week_index AND pt.narrative = s.narrative
    LEFT JOIN m_base_terms b ON b.narrative = s.narrative AND b.term = s.term
    LEFT JOIN m_base_totals bt ON bt.narrative = s.narrative
),
priored AS (
    SELECT s.*, $prior_weight * (0.5 * (docs + prev_docs + base_docs) / (total + prev_total + base_total)
                                 + 0.5 * coalesce(g.share, 0)) AS alpha
    FROM scored s LEFT JOIN term_background g USING (term)
),
tested AS (
    SELECT
        strftime(week_start, '%G-W%V') AS iso_week, week_start, narrative, term,
        docs, total, prev_docs, prev_total, base_docs, base_total, alpha,
        log_odds_delta(docs, total, prev_docs, prev_total, alpha, $prior_weight) AS log_odds_prev,
        log_odds_z(docs, total, prev_docs, prev_total, alpha, $prior_weight) AS z_prev,
        log_odds_delta(docs, total, base_docs, base_total, alpha, $prior_weight) AS log_odds_base,
        log_odds_z(docs, total, base_docs, base_total, alpha, $prior_weight) AS z_base,
        base_docs = 0 AS new_vs_baseline,
        first_week AS first_seen_week,
        first_week = week_start AND base_docs = 0 AND week_index >= $min_history_weeks AS is_new,
        week_index
    FROM priored
    WHERE total > 0 OR prev_total > 0
)
-- Kept for analysts: each week's 2,000 most-used terms per narrative, and every term whose z against
-- the previous weeks or the seeds reaches 2 either way, or that is new.
SELECT * FROM tested
QUALIFY row_number() OVER (PARTITION BY week_index, narrative ORDER BY docs DESC, term) <= 2000
     OR abs(z_prev) >= 2 OR abs(z_base) >= 2 OR is_new;

-- Outlets behind each candidate new or rising term (counted only for the few candidates: distinct counts are
-- dear). A term one outlet repeats is that outlet's habit, not a shift in the coverage.
CREATE OR REPLACE TEMP TABLE m_new_outlets AS
SELECT c.week_start, c.narrative, c.term, count(DISTINCT d.outlet) AS outlets
FROM (SELECT week_start, narrative, term FROM t_weekly_terms
      WHERE (is_new AND docs >= $new_term_min_docs) OR (z_prev >= $term_z AND docs >= $term_min_docs)) c
JOIN article_terms t ON t.term = c.term
JOIN m_docs d ON d.article_id = t.article_id AND d.week_start = c.week_start AND NOT d.is_baseline
LEFT JOIN m_bits b ON b.narrative = c.narrative
WHERE c.narrative = 'all' OR (d.mask >> b.bit) & 1 = 1
GROUP BY ALL;

DELETE FROM weekly_terms WHERE week_start >= (SELECT min(week_start) FROM m_weeks WHERE week_index >= (SELECT first_out FROM m_span));
INSERT INTO weekly_terms BY NAME
SELECT t.*, o.outlets AS new_outlets,
    coalesce(t.z_prev >= $term_z AND t.docs >= $term_min_docs AND o.outlets >= $term_min_outlets
             AND t.week_index >= $min_history_weeks AND t.prev_total >= $min_reference_ratio * t.total, false) AS is_rising,
    coalesce(t.z_prev <= -$term_z AND t.prev_docs >= $term_min_docs AND t.week_index >= $min_history_weeks
             AND t.prev_total >= $min_reference_ratio * t.total, false) AS is_falling,
    -- New means new to the coverage, not to the language: a word in general use (term_background) is not a
    -- new name, and with too little history behind the week every term would look new.
    coalesce(t.is_new AND t.docs >= $new_term_min_docs AND o.outlets >= $new_term_min_outlets
             AND coalesce(g.share, 0) <= $new_term_max_background
             AND t.prev_total >= $min_reference_ratio * t.total, false) AS is_new_entrant
FROM t_weekly_terms t LEFT JOIN m_new_outlets o USING (week_start, narrative, term)
LEFT JOIN term_background g USING (term);

-- Jensen-Shannon divergence (base 2, 0..1) of a narrative's term distribution, with an inner join only:
-- a term present on one side alone adds half its probability, so
-- JSD = sum over shared terms of [p/2 log2(2p/(p+q)) + q/2 log2(2q/(p+q))] + (1 - P_shared)/2 + (1 - Q_shared)/2.
CREATE OR REPLACE TEMP TABLE m_base_dist AS
SELECT t.narrative, t.term, t.docs / tot.total AS q
FROM m_base_terms t JOIN m_base_totals tot USING (narrative);

CREATE OR REPLACE TEMP TABLE m_jsd AS
WITH out_weeks AS (
    SELECT week_start, week_index FROM m_weeks WHERE week_index >= (SELECT first_out FROM m_span)),
dist AS (
    SELECT t.week_start, t.narrative, t.term, t.docs / tot.total AS p
    FROM m_terms t JOIN m_totals tot USING (week_start, narrative) JOIN out_weeks USING (week_start)),
vs_base AS (
    SELECT d.week_start, d.narrative,
           sum(jsd_shared_term(d.p, b.q)) AS shared, sum(d.p) AS p_shared, sum(b.q) AS q_shared
    FROM dist d JOIN m_base_dist b USING (narrative, term) GROUP BY ALL),
vs_prev AS (
    SELECT w.week_start, s.narrative,
           sum(jsd_shared_term(s.docs / t.total, s.last_docs / l.total)) AS shared,
           sum(s.docs / t.total) AS p_shared, sum(s.last_docs / l.total) AS q_shared
    FROM m_series s
    JOIN out_weeks w ON w.week_index = s.week_index
    JOIN m_weeks lw ON lw.week_index = s.week_index - 1
    JOIN m_totals t ON t.week_start = w.week_start AND t.narrative = s.narrative
    JOIN m_totals l ON l.week_start = lw.week_start AND l.narrative = s.narrative
    WHERE s.docs > 0 AND s.last_docs > 0
    GROUP BY ALL),
present AS (SELECT DISTINCT week_start, narrative FROM m_totals)
SELECT p.week_start, p.narrative,
    CASE WHEN bt.total > 0 THEN coalesce(b.shared, 0) + (1 - coalesce(b.p_shared, 0)) / 2 + (1 - coalesce(b.q_shared, 0)) / 2 END AS jsd_baseline,
    CASE WHEN prev.week_start IS NOT NULL
         THEN coalesce(v.shared, 0) + (1 - coalesce(v.p_shared, 0)) / 2 + (1 - coalesce(v.q_shared, 0)) / 2 END AS jsd_prev
FROM present p
JOIN out_weeks USING (week_start)
LEFT JOIN vs_base b USING (week_start, narrative)
LEFT JOIN m_base_totals bt USING (narrative)
LEFT JOIN vs_prev v USING (week_start, narrative)
LEFT JOIN present prev ON prev.narrative = p.narrative AND prev.week_start = p.week_start - 7;

DELETE FROM narrative_week_jsd WHERE week_start >= (SELECT min(week_start) FROM m_weeks WHERE week_index >= (SELECT first_out FROM m_span));
INSERT INTO narrative_week_jsd BY NAME SELECT * FROM m_jsd;

-- Coverage per narrative and week (dense), with the burst and share tests.
CREATE OR REPLACE TEMP TABLE m_narr_week AS
SELECT a.week_start, n.narrative,
    count(*) AS articles,
    count(DISTINCT a.story_id) AS stories,
    count(DISTINCT a.outlet) AS outlets,
    count(*) FILTER (WHERE a.lang_group = 'zh') AS articles_zh,
    count(*) FILTER (WHERE a.lang_group = 'en') AS articles_en
FROM m_articles a JOIN m_narr n USING (article_id)
WHERE NOT a.is_baseline
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE m_base_narr AS
SELECT n.narrative, count(*) AS articles,
       count(*) / any_value(t.total) AS share
FROM m_articles a JOIN m_narr n USING (article_id)
CROSS JOIN (SELECT count(*) AS total FROM m_articles WHERE is_baseline AND on_topic) t
WHERE a.is_baseline
GROUP BY n.narrative;

DELETE FROM weekly_narratives;
INSERT INTO weekly_narratives BY NAME
WITH grid AS (
    SELECT t.*, c.narrative, c.label
    FROM m_week_totals t CROSS JOIN narrative_catalog c WHERE c.frame IS NULL),
filled AS (
    SELECT g.week_start, g.week_index, g.narrative, g.label,
        coalesce(x.articles, 0) AS articles, coalesce(x.stories, 0) AS stories, coalesce(x.outlets, 0) AS outlets,
        g.on_topic_articles,
        coalesce(x.articles_zh, 0) AS articles_zh, coalesce(x.articles_en, 0) AS articles_en,
        g.on_topic_zh, g.on_topic_en, g.outlets_collected
    FROM grid g LEFT JOIN m_narr_week x USING (week_start, narrative)),
windowed AS (
    SELECT f.*,
        f.articles / nullif(f.on_topic_articles, 0) AS share,
        lag(f.articles) OVER w AS prev_articles,
        lag(f.on_topic_articles) OVER w AS prev_on_topic_articles,
        sum(f.articles) OVER hist AS ref_articles,
        sum(f.on_topic_articles) OVER hist AS ref_on_topic_articles,
        avg(f.articles) OVER hist AS prev_mean,
        stddev_pop(f.articles) OVER hist AS prev_sd,
        count(*) OVER hist AS history_weeks,
        avg(f.outlets_collected) OVER hist AS prev_outlets_collected
    FROM filled f
    WINDOW w AS (PARTITION BY f.narrative ORDER BY f.week_start),
           hist AS (PARTITION BY f.narrative ORDER BY f.week_start ROWS BETWEEN $lookback_weeks PRECEDING AND 1 PRECEDING))
SELECT
    strftime(w.week_start, '%G-W%V') AS iso_week, w.week_start, w.narrative, w.label,
    w.articles, w.stories, w.outlets, w.on_topic_articles, w.share,
    w.articles_zh, w.articles_en,
    w.articles_zh / nullif(w.on_topic_zh, 0) AS share_zh,
    w.articles_en / nullif(w.on_topic_en, 0) AS share_en,
    w.prev_articles / nullif(w.prev_on_topic_articles, 0) AS prev_share,
    w.share - w.prev_articles / nullif(w.prev_on_topic_articles, 0) AS share_change,
    prop_z(w.articles, w.on_topic_articles, w.prev_articles, w.prev_on_topic_articles) AS share_z,
    b.articles AS baseline_articles, b.share AS baseline_share,
    w.prev_mean, w.prev_sd, w.history_weeks, w.outlets_collected, w.prev_outlets_collected,
    burst_z(w.articles, w.prev_mean, w.prev_sd) AS burst_z,
    coalesce(w.history_weeks >= $min_history_weeks AND w.articles >= $burst_min_articles
             AND burst_z(w.articles, w.prev_mean, w.prev_sd) >= $burst_z
             -- ... from sources the history also heard: a count that rose because collection began or outlets
             -- were added (the previous weeks heard on average fewer than min_reference_ratio of this week's
             -- outlets) is not news
             AND w.prev_outlets_collected >= $min_reference_ratio * w.outlets_collected, false) AS is_burst,
    w.ref_articles, w.ref_on_topic_articles,
    w.ref_articles / nullif(w.ref_on_topic_articles, 0) AS ref_share,
    prop_z(w.articles, w.on_topic_articles, w.ref_articles, w.ref_on_topic_articles) AS ref_z,
    coalesce(w.history_weeks >= $min_history_weeks
             AND abs(prop_z(w.articles, w.on_topic_articles, w.ref_articles, w.ref_on_topic_articles)) >= $share_z
             AND abs(w.share - w.ref_articles / nullif(w.ref_on_topic_articles, 0)) >= $share_min_change
             -- ... and it moved this week: a level reached earlier is not news again while the reference catches up
             AND (w.share - w.prev_articles / nullif(w.prev_on_topic_articles, 0))
                 * sign(w.share - w.ref_articles / nullif(w.ref_on_topic_articles, 0)) >= $share_min_change, false) AS is_share_shift,
    j.jsd_baseline, j.jsd_prev
FROM windowed w
LEFT JOIN m_base_narr b USING (narrative)
LEFT JOIN narrative_week_jsd j USING (week_start, narrative)
ORDER BY w.week_start, w.narrative;

-- The frame mix: a frame's share of its narrative's articles (an article can carry several frames).
DELETE FROM weekly_frames;
INSERT INTO weekly_frames BY NAME
WITH fc AS (
    SELECT a.week_start, f.narrative, f.frame, count(*) AS articles,
        count(*) FILTER (WHERE a.lang_group = 'zh') AS articles_zh,
        count(*) FILTER (WHERE a.lang_group = 'en') AS articles_en
    FROM m_articles a JOIN article_labels f USING (article_id)
    WHERE f.frame IS NOT NULL AND NOT a.is_baseline
    GROUP BY ALL),
base AS (
    SELECT f.narrative, f.frame, count(*) AS articles
    FROM m_articles a JOIN article_labels f USING (article_id)
    WHERE f.frame IS NOT NULL AND a.is_baseline
    GROUP BY ALL),
grid AS (
    SELECT n.week_start, mw.week_index, n.narrative, c.frame, c.label,
        n.articles AS narrative_articles, n.articles_zh AS narrative_zh, n.articles_en AS narrative_en,
        n.history_weeks, n.baseline_articles AS baseline_narrative_articles
    FROM weekly_narratives n JOIN narrative_catalog c ON c.narrative = n.narrative AND c.frame IS NOT NULL
    JOIN m_weeks mw ON mw.week_start = n.week_start),
filled AS (
    SELECT g.*, coalesce(fc.articles, 0) AS articles,
        coalesce(fc.articles_zh, 0) AS articles_zh, coalesce(fc.articles_en, 0) AS articles_en,
        coalesce(b.articles, 0) AS baseline_articles
    FROM grid g LEFT JOIN fc USING (week_start, narrative, frame) LEFT JOIN base b USING (narrative, frame)),
windowed AS (
    SELECT f.*,
        lag(f.articles) OVER w AS prev_articles,
        lag(f.narrative_articles) OVER w AS prev_narrative_articles,
        sum(f.articles) OVER hist AS ref_articles,
        sum(f.narrative_articles) OVER hist AS ref_narrative_articles
    FROM filled f WINDOW w AS (PARTITION BY f.narrative, f.frame ORDER BY f.week_start),
                         hist AS (PARTITION BY f.narrative, f.frame ORDER BY f.week_start
                                  ROWS BETWEEN $lookback_weeks PRECEDING AND 1 PRECEDING))
SELECT
    strftime(week_start, '%G-W%V') AS iso_week, week_start, narrative, frame, label,
    articles, narrative_articles,
    articles / nullif(narrative_articles, 0) AS share,
    prev_articles, prev_narrative_articles,
    prev_articles / nullif(prev_narrative_articles, 0) AS prev_share,
    articles / nullif(narrative_articles, 0) - prev_articles / nullif(prev_narrative_articles, 0) AS share_change,
    prop_z(articles, narrative_articles, prev_articles, prev_narrative_articles) AS share_z,
    baseline_articles, baseline_articles / nullif(baseline_narrative_articles, 0) AS baseline_share,
    articles_zh / nullif(narrative_zh, 0) AS share_zh,
    articles_en / nullif(narrative_en, 0) AS share_en,
    ref_articles, ref_narrative_articles,
    ref_articles / nullif(ref_narrative_articles, 0) AS ref_share,
    prop_z(articles, narrative_articles, ref_articles, ref_narrative_articles) AS ref_z,
    coalesce(history_weeks >= $min_history_weeks
             AND narrative_articles >= $frame_min_articles AND ref_narrative_articles >= $reference_min_articles
             AND abs(prop_z(articles, narrative_articles, ref_articles, ref_narrative_articles)) >= $frame_z
             AND abs(articles / nullif(narrative_articles, 0) - ref_articles / nullif(ref_narrative_articles, 0)) >= $frame_min_change
             AND (articles / nullif(narrative_articles, 0) - prev_articles / nullif(prev_narrative_articles, 0))
                 * sign(articles / nullif(narrative_articles, 0) - ref_articles / nullif(ref_narrative_articles, 0)) >= $frame_min_change,
             false) AS is_shift
FROM windowed
ORDER BY week_start, narrative, frame;

-- Coverage per outlet: which outlets carry each narrative, and in which language.
DELETE FROM weekly_outlets;
INSERT INTO weekly_outlets BY NAME
WITH per_outlet AS (
    SELECT week_start, outlet, any_value(lang_group) AS lang_group, count(*) FILTER (WHERE on_topic) AS on_topic_articles
    FROM m_articles WHERE NOT is_baseline GROUP BY ALL)
SELECT strftime(a.week_start, '%G-W%V') AS iso_week, a.week_start, n.narrative, a.outlet, o.lang_group,
    count(*) AS articles, o.on_topic_articles, count(*) / nullif(o.on_topic_articles, 0) AS share
FROM m_articles a JOIN m_narr n USING (article_id) JOIN per_outlet o USING (week_start, outlet)
WHERE NOT a.is_baseline
GROUP BY a.week_start, n.narrative, a.outlet, o.lang_group, o.on_topic_articles
ORDER BY a.week_start, n.narrative, articles DESC;

DROP TABLE m_articles; DROP TABLE m_narr; DROP TABLE m_weeks; DROP TABLE m_week_totals; DROP TABLE m_dirty;
DROP TABLE m_bits; DROP TABLE m_mask; DROP TABLE m_docs; DROP TABLE m_span; DROP TABLE m_terms; DROP TABLE m_base_terms;
DROP TABLE m_totals; DROP TABLE m_base_totals; DROP TABLE m_series; DROP TABLE m_candidates; DROP TABLE m_prev_totals;
DROP TABLE t_weekly_terms; DROP TABLE m_new_outlets; DROP TABLE m_base_dist; DROP TABLE m_jsd; DROP TABLE m_narr_week;
DROP TABLE m_base_narr; DROP TABLE m_first_dirty; DROP TABLE m_dirty_terms;
