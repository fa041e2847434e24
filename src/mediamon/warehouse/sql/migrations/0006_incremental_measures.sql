-- 0006: what the weekly measures keep between refreshes, so that a refresh recounts only the weeks
-- whose stories gained articles (warehouse/measures.sql).
CREATE TABLE term_week_masks (
    week_start   DATE NOT NULL,        -- Monday of the ISO week (Asia/Shanghai)
    is_baseline  BOOLEAN NOT NULL,
    mask         INTEGER NOT NULL,     -- the narratives the documents carry, one bit each (catalog order)
    term         VARCHAR NOT NULL,
    docs         INTEGER NOT NULL      -- documents (one per story and week) using the term
);

CREATE TABLE term_first_seen (
    narrative   VARCHAR NOT NULL,
    term        VARCHAR NOT NULL,
    first_week  DATE NOT NULL          -- no index: DuckDB re-serialises indexes at every checkpoint (see 0003)
);

CREATE TABLE narrative_week_jsd (
    week_start    DATE NOT NULL,
    narrative     VARCHAR NOT NULL,
    jsd_baseline  DOUBLE,
    jsd_prev      DOUBLE
);
