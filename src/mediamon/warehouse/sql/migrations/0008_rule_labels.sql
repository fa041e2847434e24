-- 0008: narrative and frame labels come from Boolean rules (config/narratives.yaml). Each label names
-- the rule that gave it; the catalog holds each narrative's and frame's rules instead of weighted terms;
-- term_background holds how common each stored term is in general language (jieba's dictionary, or an
-- English news background), which the term statistics' prior uses so common words cannot rise.
ALTER TABLE article_labels ADD COLUMN rule VARCHAR;   -- the rule that matched first (its name in narratives.yaml)
ALTER TABLE narrative_catalog DROP COLUMN min_score;
ALTER TABLE narrative_catalog DROP COLUMN terms;
ALTER TABLE narrative_catalog ADD COLUMN mention VARCHAR;      -- the query a sentence about it matches
ALTER TABLE narrative_catalog ADD COLUMN rules VARCHAR[];      -- 'name: query' for every rule and exclusion
CREATE TABLE term_background (
    term   VARCHAR NOT NULL,   -- a stored content term (unique: the one writer adds only terms it has not seen)
    share  DOUBLE NOT NULL     -- its share of general language: jieba frequency / total, or background documents
);
