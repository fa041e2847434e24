-- 0002: near-duplicate signatures, LSH bands, links between copies, story assignment, credited origins.
ALTER TABLE articles ADD COLUMN credited_origin VARCHAR;   -- the wire/outlet a copy credits (来源：新华社, (Reuters) -)

CREATE TABLE article_signatures (
    article_id  VARCHAR PRIMARY KEY,
    effective_at TIMESTAMPTZ NOT NULL,   -- the article's effective time (published, or first seen)
    params      VARCHAR NOT NULL,       -- shingle size, permutations and seed that made the signature
    signature   BLOB NOT NULL           -- num_perm little-endian uint32 MinHash values
);

CREATE TABLE article_bands (
    band        SMALLINT NOT NULL,
    band_key    BIGINT NOT NULL,        -- hash of the band's rows; equal keys make a candidate pair
    article_id  VARCHAR NOT NULL,
    effective_at TIMESTAMPTZ NOT NULL    -- rows arrive in time order, so zone maps prune by window
);

CREATE TABLE article_links (
    article_id  VARCHAR NOT NULL,       -- the later article
    linked_id   VARCHAR NOT NULL,       -- an earlier copy of it
    similarity  DOUBLE NOT NULL,        -- estimated Jaccard of their shingles (1.0 for exact copies)
    kind        VARCHAR NOT NULL        -- near | exact
);

CREATE TABLE article_stories (
    article_id  VARCHAR PRIMARY KEY,
    story_id    VARCHAR NOT NULL        -- the article_id of the story's lead
);
