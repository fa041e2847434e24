-- The weekly measures: rebuilt in one transaction after every ingest run (`mediamon measures refresh`).
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
    a.article_id, a.outlet, a.is_baseline, a.duplicate_of,
    coalesce(s.story_id, a.article_id) AS story_id,
    CASE WHEN a.script IN ('zh-Hans', 'zh-Hant') THEN 'zh' WHEN a.script = 'en' THEN 'en' ELSE 'other' END AS lang_group,
    CAST(date_trunc('week', timezone('Asia/Shanghai',
        CASE WHEN a.published_at IS NULL OR a.published_at > a.first_seen_at + INTERVAL 1 DAY
             THEN a.first_seen_at ELSE a.published_at END)) AS DATE) AS week_start,
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
    count(a.article_id) FILTER (WHERE a.on_topic AND a.lang_group = 'en') AS on_topic_en
FROM m_weeks w LEFT JOIN m_articles a ON a.week_start = w.week_start AND NOT a.is_baseline
GROUP BY w.week_start, w.week_index;

-- One document per story and week (texts stored once: exact copies carry no terms).
CREATE OR REPLACE TEMP TABLE m_docs AS
SELECT article_id, week_start, is_baseline, outlet FROM (
    SELECT article_id, week_start, is_baseline, outlet,
           row_number() OVER (PARTITION BY story_id, week_start, is_baseline ORDER BY article_id) AS k
    FROM m_articles WHERE duplicate_of IS NULL AND on_topic)
WHERE k = 1;

-- Term document counts per week and narrative; 'all' is all on-topic coverage.
CREATE OR REPLACE TEMP TABLE m_terms AS
SELECT d.week_start, n.narrative, t.term, count(*)::INTEGER AS docs
FROM article_terms t JOIN m_docs d USING (article_id) JOIN m_narr n USING (article_id)
WHERE NOT d.is_baseline
GROUP BY ALL
UNION ALL
SELECT d.week_start, 'all', t.term, count(*)::INTEGER
FROM article_terms t JOIN m_docs d USING (article_id)
WHERE NOT d.is_baseline
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE m_base_terms AS
SELECT n.narrative, t.term, count(*)::INTEGER AS docs
FROM article_terms t JOIN m_docs d USING (article_id) JOIN m_narr n USING (article_id)
WHERE d.is_baseline
GROUP BY ALL
UNION ALL
SELECT 'all', t.term, count(*)::INTEGER
FROM article_terms t JOIN m_docs d USING (article_id)
WHERE d.is_baseline
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE m_totals AS
SELECT week_start, narrative, sum(docs)::BIGINT AS total FROM m_terms GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE m_base_totals AS
SELECT narrative, sum(docs)::BIGINT AS total FROM m_base_terms GROUP BY ALL;

-- The informative prior: each term's share of the narrative's whole collection (all weeks and the
-- baseline), scaled to $prior_weight pseudo-documents (Monroe, Colaresi & Quinn 2008, section 3.5).
CREATE OR REPLACE TEMP TABLE m_prior AS
WITH bg AS (
    SELECT narrative, term, sum(docs) AS docs FROM (
        SELECT narrative, term, docs FROM m_terms UNION ALL SELECT narrative, term, docs FROM m_base_terms)
    GROUP BY ALL)
SELECT narrative, term, $prior_weight * docs / sum(docs) OVER (PARTITION BY narrative) AS alpha
FROM bg;

-- Each term's weekly series, with a zero row in the week after a term used in $term_min_docs or more
-- stories disappears (so that it can fall); the previous $lookback_weeks weeks pooled come from one
-- window pass over the series (no per-week copies of the data).
CREATE OR REPLACE TEMP TABLE m_series AS
WITH present AS (
    SELECT t.*, w.week_index FROM m_terms t JOIN m_weeks w USING (week_start)),
vanished AS (
    SELECT p.narrative, p.term, p.week_index + 1 AS week_index, 0 AS docs FROM present p
    WHERE p.docs >= $term_min_docs AND p.week_index + 1 <= (SELECT max(week_index) FROM m_weeks)
      AND NOT EXISTS (SELECT 1 FROM present n WHERE n.narrative = p.narrative AND n.term = p.term
                      AND n.week_index = p.week_index + 1)),
series AS (
    SELECT narrative, term, week_index, docs FROM present
    UNION ALL SELECT narrative, term, week_index, docs FROM vanished)
SELECT narrative, term, week_index, docs,
    coalesce(sum(docs) OVER (PARTITION BY narrative, term ORDER BY week_index
                             RANGE BETWEEN $lookback_weeks PRECEDING AND 1 PRECEDING), 0)::INTEGER AS prev_docs,
    first_value(week_index) OVER (PARTITION BY narrative, term ORDER BY week_index) AS first_index,
    -- last week's docs of the term, for the week-on-week divergence
    CASE WHEN lag(week_index) OVER (PARTITION BY narrative, term ORDER BY week_index) = week_index - 1
         THEN lag(docs) OVER (PARTITION BY narrative, term ORDER BY week_index) END AS last_docs
FROM series;

CREATE OR REPLACE TEMP TABLE m_prev_totals AS
SELECT w.week_index, n.narrative,
    coalesce(sum(t.total) FILTER (WHERE tw.week_index BETWEEN w.week_index - $lookback_weeks AND w.week_index - 1), 0)::BIGINT AS prev_total
FROM m_weeks w
CROSS JOIN (SELECT DISTINCT narrative FROM m_totals) n
LEFT JOIN m_totals t ON t.narrative = n.narrative
LEFT JOIN m_weeks tw ON tw.week_start = t.week_start
GROUP BY ALL;

-- Rising and falling terms: this week against the previous weeks and against the baseline.
CREATE OR REPLACE TEMP TABLE t_weekly_terms AS
WITH scored AS (
    SELECT s.*, w.week_start,
           coalesce(tot.total, 0) AS total, pt.prev_total,
           coalesce(b.docs, 0) AS base_docs, coalesce(bt.total, 0) AS base_total,
           pr.alpha, fw.week_start AS first_week
    FROM m_series s
    JOIN m_weeks w USING (week_index)
    JOIN m_weeks fw ON fw.week_index = s.first_index
    JOIN m_prior pr USING (narrative, term)
    LEFT JOIN m_totals tot ON tot.week_start = w.week_start AND tot.narrative = s.narrative
    LEFT JOIN m_prev_totals pt ON pt.week_index = s.week_index AND pt.narrative = s.narrative
    LEFT JOIN m_base_terms b ON b.narrative = s.narrative AND b.term = s.term
    LEFT JOIN m_base_totals bt ON bt.narrative = s.narrative
    -- kept: terms in $term_min_docs or more stories this week, and terms that were (prev_docs) but
    -- nearly vanished; the long tail of rare terms says nothing on its own and would dwarf the table
    WHERE s.docs >= $term_min_docs OR (s.docs < $term_min_docs AND s.prev_docs >= 2 * $term_min_docs)
)
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
FROM scored
WHERE total > 0 OR prev_total > 0;

-- Outlets behind each candidate new term (counted only for the few candidates: distinct counts are dear).
CREATE OR REPLACE TEMP TABLE m_new_outlets AS
SELECT c.week_start, c.narrative, c.term, count(DISTINCT d.outlet) AS outlets
FROM (SELECT week_start, narrative, term FROM t_weekly_terms WHERE is_new AND docs >= $new_term_min_docs) c
JOIN article_terms t ON t.term = c.term
JOIN m_docs d ON d.article_id = t.article_id AND d.week_start = c.week_start AND NOT d.is_baseline
LEFT JOIN m_narr n ON n.article_id = t.article_id AND n.narrative = c.narrative
WHERE c.narrative = 'all' OR n.article_id IS NOT NULL
GROUP BY ALL;

DELETE FROM weekly_terms;
INSERT INTO weekly_terms BY NAME
SELECT t.*, o.outlets AS new_outlets,
    coalesce(t.z_prev >= $term_z AND t.docs >= $term_min_docs AND t.week_index >= $min_history_weeks, false) AS is_rising,
    coalesce(t.z_prev <= -$term_z AND t.prev_docs >= $term_min_docs AND t.week_index >= $min_history_weeks, false) AS is_falling,
    coalesce(t.is_new AND t.docs >= $new_term_min_docs AND o.outlets >= $new_term_min_outlets, false) AS is_new_entrant
FROM t_weekly_terms t LEFT JOIN m_new_outlets o USING (week_start, narrative, term);

-- Jensen-Shannon divergence (base 2, 0..1) of a narrative's term distribution, with an inner join only:
-- a term present on one side alone adds half its probability, so
-- JSD = sum over shared terms of [p/2 log2(2p/(p+q)) + q/2 log2(2q/(p+q))] + (1 - P_shared)/2 + (1 - Q_shared)/2.
CREATE OR REPLACE TEMP TABLE m_dist AS
SELECT t.week_start, t.narrative, t.term, t.docs / tot.total AS p
FROM m_terms t JOIN m_totals tot USING (week_start, narrative);

CREATE OR REPLACE TEMP TABLE m_base_dist AS
SELECT t.narrative, t.term, t.docs / tot.total AS q
FROM m_base_terms t JOIN m_base_totals tot USING (narrative);

CREATE OR REPLACE TEMP TABLE m_jsd AS
WITH vs_base AS (
    SELECT d.week_start, d.narrative,
           sum(jsd_shared_term(d.p, b.q)) AS shared, sum(d.p) AS p_shared, sum(b.q) AS q_shared
    FROM m_dist d JOIN m_base_dist b USING (narrative, term) GROUP BY ALL),
vs_prev AS (
    SELECT w.week_start, s.narrative,
           sum(jsd_shared_term(s.docs / t.total, s.last_docs / l.total)) AS shared,
           sum(s.docs / t.total) AS p_shared, sum(s.last_docs / l.total) AS q_shared
    FROM m_series s
    JOIN m_weeks w USING (week_index)
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
LEFT JOIN vs_base b USING (week_start, narrative)
LEFT JOIN m_base_totals bt USING (narrative)
LEFT JOIN vs_prev v USING (week_start, narrative)
LEFT JOIN present prev ON prev.narrative = p.narrative AND prev.week_start = p.week_start - 7;

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
        g.on_topic_zh, g.on_topic_en
    FROM grid g LEFT JOIN m_narr_week x USING (week_start, narrative)),
windowed AS (
    SELECT f.*,
        f.articles / nullif(f.on_topic_articles, 0) AS share,
        lag(f.articles) OVER w AS prev_articles,
        lag(f.on_topic_articles) OVER w AS prev_on_topic_articles,
        avg(f.articles) OVER hist AS prev_mean,
        stddev_pop(f.articles) OVER hist AS prev_sd,
        count(*) OVER hist AS history_weeks
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
    w.prev_mean, w.prev_sd, w.history_weeks,
    burst_z(w.articles, w.prev_mean, w.prev_sd) AS burst_z,
    coalesce(w.history_weeks >= $min_history_weeks AND w.articles >= $burst_min_articles
             AND burst_z(w.articles, w.prev_mean, w.prev_sd) >= $burst_z, false) AS is_burst,
    coalesce(w.history_weeks >= $min_history_weeks
             AND abs(prop_z(w.articles, w.on_topic_articles, w.prev_articles, w.prev_on_topic_articles)) >= $share_z
             AND abs(w.share - w.prev_articles / nullif(w.prev_on_topic_articles, 0)) >= $share_min_change, false) AS is_share_shift,
    j.jsd_baseline, j.jsd_prev
FROM windowed w
LEFT JOIN m_base_narr b USING (narrative)
LEFT JOIN m_jsd j USING (week_start, narrative)
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
        lag(f.narrative_articles) OVER w AS prev_narrative_articles
    FROM filled f WINDOW w AS (PARTITION BY f.narrative, f.frame ORDER BY f.week_start))
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
    coalesce(history_weeks >= $min_history_weeks
             AND narrative_articles >= $frame_min_articles AND prev_narrative_articles >= $frame_min_articles
             AND abs(prop_z(articles, narrative_articles, prev_articles, prev_narrative_articles)) >= $frame_z
             AND abs(articles / nullif(narrative_articles, 0) - prev_articles / nullif(prev_narrative_articles, 0)) >= $frame_min_change,
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

DROP TABLE m_articles; DROP TABLE m_narr; DROP TABLE m_weeks; DROP TABLE m_week_totals; DROP TABLE m_docs;
DROP TABLE m_terms; DROP TABLE m_base_terms; DROP TABLE m_totals; DROP TABLE m_base_totals; DROP TABLE m_prior;
DROP TABLE m_series; DROP TABLE m_prev_totals; DROP TABLE m_new_outlets; DROP TABLE m_dist;
DROP TABLE m_base_dist; DROP TABLE m_jsd; DROP TABLE m_narr_week; DROP TABLE m_base_narr; DROP TABLE t_weekly_terms;
