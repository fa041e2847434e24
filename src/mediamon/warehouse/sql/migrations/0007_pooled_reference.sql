-- 0007: shifts are judged against the previous weeks pooled (the reference), not last week alone:
-- a week of ten articles against last week's nine can hardly show anything; against the pooled
-- weeks before it, a real turn does. prev_* (last week) stay for reading.
ALTER TABLE weekly_narratives ADD COLUMN ref_articles BIGINT;          -- the narrative's articles in the reference weeks
ALTER TABLE weekly_narratives ADD COLUMN ref_on_topic_articles BIGINT; -- all on-topic articles in them
ALTER TABLE weekly_narratives ADD COLUMN ref_share DOUBLE;
ALTER TABLE weekly_narratives ADD COLUMN ref_z DOUBLE;                 -- two-proportion z: this week against the reference
ALTER TABLE weekly_frames ADD COLUMN ref_articles BIGINT;              -- the frame's articles in the reference weeks
ALTER TABLE weekly_frames ADD COLUMN ref_narrative_articles BIGINT;    -- the narrative's articles in them
ALTER TABLE weekly_frames ADD COLUMN ref_share DOUBLE;
ALTER TABLE weekly_frames ADD COLUMN ref_z DOUBLE;
