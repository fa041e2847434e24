-- 0004: per-article term counts and narrative/frame labels (the narratives stage), and the
-- configuration they were computed with. The weekly measures are tables that
-- warehouse/measures.sql rebuilds; analysts read them through the v_weekly_* views.
CREATE TABLE article_terms (
    article_id  VARCHAR NOT NULL,
    term        VARCHAR NOT NULL,     -- canonical term after aliasing (config/aliases.yaml)
    n           SMALLINT NOT NULL     -- occurrences in title + text; the article's top terms (narratives.TOP_TERMS) plus every matched term
);

CREATE TABLE article_labels (
    article_id  VARCHAR NOT NULL,
    narrative   VARCHAR NOT NULL,
    frame       VARCHAR,              -- NULL: the narrative itself; else one of its frames
    score       DOUBLE NOT NULL,      -- sum of weight x min(count, 3) over the matched terms
    matched     VARCHAR[] NOT NULL    -- 'term×count' of every term that contributed
);

CREATE TABLE analysis_state (
    key    VARCHAR PRIMARY KEY,       -- config_version: hash of narratives.yaml, aliases, dictionary, stopwords
    value  VARCHAR NOT NULL
);

CREATE TABLE narrative_catalog (
    narrative  VARCHAR NOT NULL,
    frame      VARCHAR,               -- NULL: the narrative's own row
    label      VARCHAR NOT NULL,
    min_score  DOUBLE NOT NULL,
    terms      VARCHAR[] NOT NULL     -- 'term:weight' as configured (canonical forms)
);

-- The weekly measures, rebuilt by warehouse/measures.sql (columns documented in warehouse/views.sql).
CREATE TABLE weekly_narratives (
    iso_week                VARCHAR,
    week_start              DATE,
    narrative               VARCHAR,
    label                   VARCHAR,
    articles                BIGINT,
    stories                 BIGINT,
    outlets                 BIGINT,
    on_topic_articles       BIGINT,
    share                   DOUBLE,
    articles_zh             BIGINT,
    articles_en             BIGINT,
    share_zh                DOUBLE,
    share_en                DOUBLE,
    prev_share              DOUBLE,
    share_change            DOUBLE,
    share_z                 DOUBLE,
    baseline_articles       BIGINT,
    baseline_share          DOUBLE,
    prev_mean               DOUBLE,
    prev_sd                 DOUBLE,
    history_weeks           BIGINT,
    burst_z                 DOUBLE,
    is_burst                BOOLEAN,
    is_share_shift          BOOLEAN,
    jsd_baseline            DOUBLE,
    jsd_prev                DOUBLE
);

CREATE TABLE weekly_frames (
    iso_week                VARCHAR,
    week_start              DATE,
    narrative               VARCHAR,
    frame                   VARCHAR,
    label                   VARCHAR,
    articles                BIGINT,
    narrative_articles      BIGINT,
    share                   DOUBLE,
    prev_articles           BIGINT,
    prev_narrative_articles BIGINT,
    prev_share              DOUBLE,
    share_change            DOUBLE,
    share_z                 DOUBLE,
    baseline_articles       BIGINT,
    baseline_share          DOUBLE,
    share_zh                DOUBLE,
    share_en                DOUBLE,
    is_shift                BOOLEAN
);

CREATE TABLE weekly_terms (
    iso_week                VARCHAR,
    week_start              DATE,
    narrative               VARCHAR,
    term                    VARCHAR,
    docs                    INTEGER,
    total                   BIGINT,
    prev_docs               INTEGER,
    prev_total              BIGINT,
    base_docs               INTEGER,
    base_total              BIGINT,
    alpha                   DOUBLE,
    log_odds_prev           DOUBLE,
    z_prev                  DOUBLE,
    log_odds_base           DOUBLE,
    z_base                  DOUBLE,
    new_vs_baseline         BOOLEAN,
    first_seen_week         DATE,
    is_new                  BOOLEAN,
    week_index              BIGINT,
    new_outlets             INTEGER,
    is_rising               BOOLEAN,
    is_falling              BOOLEAN,
    is_new_entrant          BOOLEAN
);

CREATE TABLE weekly_outlets (
    iso_week                VARCHAR,
    week_start              DATE,
    narrative               VARCHAR,
    outlet                  VARCHAR,
    lang_group              VARCHAR,
    articles                BIGINT,
    on_topic_articles       BIGINT,
    share                   DOUBLE
);
