-- Stable views for analysts. Re-created on every `mediamon init` / migration run.
-- Weeks are ISO weeks in Asia/Shanghai time; an article without a date, or dated more than a day
-- after it was first seen, is counted in the week it was first seen.

-- Statistics used by warehouse/measures.sql, available to analysts too.
-- Log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, eqs. 16 and 18-20):
-- y_i of n_i documents in the focus group, y_j of n_j in the reference, prior a_w for the term, a_0 in all.
CREATE OR REPLACE MACRO log_odds_delta(y_i, n_i, y_j, n_j, a_w, a_0) AS
    CASE WHEN n_i > 0 AND n_j > 0 THEN
        ln((y_i + a_w) / (n_i + a_0 - y_i - a_w)) - ln((y_j + a_w) / (n_j + a_0 - y_j - a_w)) END;
CREATE OR REPLACE MACRO log_odds_z(y_i, n_i, y_j, n_j, a_w, a_0) AS
    log_odds_delta(y_i, n_i, y_j, n_j, a_w, a_0) / sqrt(1.0 / (y_i + a_w) + 1.0 / (y_j + a_w));
-- Two-proportion z-test (pooled): x1 of n1 this week against x0 of n0 before.
CREATE OR REPLACE MACRO prop_z(x1, n1, x0, n0) AS
    CASE WHEN n1 > 0 AND n0 > 0 AND x1 + x0 > 0 AND x1 + x0 < n1 + n0 THEN
        (x1 / n1 - x0 / n0) / sqrt(((x1 + x0) / (n1 + n0)) * (1 - (x1 + x0) / (n1 + n0)) * (1 / n1 + 1 / n0)) END;
-- Volume burst: this week's count against the previous weeks' mean, in units of their spread
-- (at least the Poisson spread sqrt(mean), and at least 1, so a flat history does not divide by zero).
CREATE OR REPLACE MACRO burst_z(x, mean, sd) AS
    CASE WHEN mean IS NOT NULL THEN (x - mean) / greatest(sd, sqrt(mean), 1.0) END;
-- The Monday (as a DATE) of a time's ISO week in Asia/Shanghai time (UTC+8, no daylight saving since 1991);
-- a fixed offset is exact for these dates and much cheaper than a time-zone lookup per row.
CREATE OR REPLACE MACRO shanghai_week(ts) AS
    CAST(date_trunc('week', make_timestamp(epoch_us(ts) + 28800000000)) AS DATE);
-- '2025-W06': the ISO week of a time in Asia/Shanghai, as every view, measure and digest names weeks.
CREATE OR REPLACE MACRO shanghai_iso_week(ts) AS
    strftime(make_timestamp(epoch_us(ts) + 28800000000), '%G-W%V');
-- The time an article counts at: its date, unless missing or more than a day after it was first seen (a feed's
-- future date is not believed). mediamon.weeks.effective_at is the same rule in Python.
CREATE OR REPLACE MACRO effective_at(published_at, first_seen_at) AS
    CASE WHEN published_at IS NULL OR published_at > first_seen_at + INTERVAL 1 DAY
         THEN first_seen_at ELSE published_at END;
-- One shared term's part of a Jensen-Shannon divergence (base 2); see measures.sql.
CREATE OR REPLACE MACRO jsd_shared_term(p, q) AS
    p / 2 * log2(2 * p / (p + q)) + q / 2 * log2(2 * q / (p + q));

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
    shanghai_iso_week(effective_at(a.published_at, a.first_seen_at)) AS iso_week,
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

-- Each article's narratives and frames: the rule that gave each label (its name in config/narratives.yaml),
-- its salience (score: 3 for the headline, 2 for a lead sentence, 1 for any other sentence it matched in)
-- and the words it matched, where ('title: DeepSeek', 's7: 出口管制 + 芯片').
CREATE OR REPLACE VIEW v_article_labels AS
SELECT l.article_id, a.iso_week, a.outlet, a.script, a.title, a.url, a.is_baseline, a.story_id,
       l.narrative, l.frame, c.label, l.rule, l.score, l.matched
FROM article_labels l
JOIN v_articles a USING (article_id)
LEFT JOIN narrative_catalog c ON c.narrative = l.narrative AND c.frame IS NOT DISTINCT FROM l.frame;

-- The weekly measures (sql/measures.sql rebuilds them after every ingest run; thresholds in
-- config/narratives.yaml `measures:`). One row per ISO week and narrative, every week from the first
-- to the last, quiet weeks included:
--   articles, stories, outlets     coverage carrying the narrative (every copy; each story once; outlets)
--   on_topic_articles, share       all on-topic articles of the week; the narrative's share of them
--   articles_zh/_en, share_zh/_en  the same within Chinese-language and English-language coverage
--   prev_share, share_change, share_z   last week's share, the change, two-proportion z
--   baseline_articles, baseline_share   the same among the seed articles
--   prev_mean, prev_sd, history_weeks   articles in the previous `lookback_weeks` weeks
--   burst_z, is_burst               volume against that history (a burst also needs the history to have
--                                   heard min_reference_ratio, 0.5, of this week's outlets); is_share_shift: the share moved
--   outlets_collected, prev_outlets_collected   outlets with any stored article this week; their mean before
--   jsd_baseline, jsd_prev          Jensen-Shannon divergence (0..1) of the narrative's term
--                                   distribution against the seed baseline and against last week
CREATE OR REPLACE VIEW v_weekly_narratives AS SELECT * FROM weekly_narratives;

-- One row per ISO week, narrative and frame: the frame's share of the narrative's articles (frames
-- overlap, so shares need not sum to 1), against last week (share_z, is_shift) and the baseline.
CREATE OR REPLACE VIEW v_weekly_frames AS SELECT * FROM weekly_frames;

-- One row per ISO week, narrative ('all' = all on-topic coverage) and term. docs counts stories that
-- use the term that week (one document per story and week); total is the sum over terms. Against the
-- previous `lookback_weeks` weeks pooled (prev_docs/prev_total) and the seed baseline (base_docs/
-- base_total): log-odds ratios with an informative Dirichlet prior (alpha; Monroe et al. 2008) and
-- their z-scores. new_vs_baseline: absent from the seeds; is_new: first seen this week and not in the
-- seeds; is_new_entrant: new in enough stories and outlets; is_rising/is_falling: |z_prev| >= term_z.
-- Rows kept: terms in term_min_docs (3) or more stories that week, or (nearly) gone after being used;
-- of those, each week's 2,000 most-used per narrative and every term with |z| >= 2 or new.
CREATE OR REPLACE VIEW v_weekly_terms AS SELECT * FROM weekly_terms;

-- One row per ISO week, narrative and outlet: the outlet's articles carrying the narrative and their
-- share of the outlet's on-topic articles that week.
CREATE OR REPLACE VIEW v_weekly_outlets AS SELECT * FROM weekly_outlets;
