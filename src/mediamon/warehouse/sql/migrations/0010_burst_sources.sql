-- 0010: a burst is read only from sources the history also heard. When collection has just begun, or feeds
-- were added, every count rises with the sources; the previous weeks must have heard, on average, at least
-- min_reference_ratio of this week's outlets. Both figures are kept so the digest can say why.
ALTER TABLE weekly_narratives ADD COLUMN outlets_collected BIGINT;       -- outlets with any stored article this week
ALTER TABLE weekly_narratives ADD COLUMN prev_outlets_collected DOUBLE;  -- their mean over the previous lookback_weeks
