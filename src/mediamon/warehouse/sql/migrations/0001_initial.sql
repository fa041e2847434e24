-- 0001: feeds and their poll state, ingest runs, per-feed poll log, articles.
CREATE TABLE feeds (
    feed_id          VARCHAR PRIMARY KEY,
    name             VARCHAR NOT NULL,
    outlet           VARCHAR NOT NULL,
    url              VARCHAR NOT NULL,
    lang             VARCHAR NOT NULL,
    tags             VARCHAR[],
    enabled          BOOLEAN NOT NULL,
    etag             VARCHAR,            -- validators advance only in the transaction that stores the feed's entries
    last_modified    VARCHAR,
    last_polled_at   TIMESTAMPTZ,
    last_success_at  TIMESTAMPTZ,
    last_status      VARCHAR,
    last_error       VARCHAR,
    failures         INTEGER NOT NULL DEFAULT 0,
    next_poll_at     TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE runs (
    run_id        VARCHAR PRIMARY KEY,
    flow          VARCHAR NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    status        VARCHAR NOT NULL,
    feeds_ok      INTEGER,
    feeds_failed  INTEGER,
    new_articles  INTEGER,
    duplicates    INTEGER
);

CREATE TABLE feed_polls (
    run_id                VARCHAR NOT NULL,
    feed_id               VARCHAR NOT NULL,
    polled_at             TIMESTAMPTZ NOT NULL,
    status                VARCHAR NOT NULL,   -- ok | not_modified | error | deferred
    http_status           INTEGER,
    error_class           VARCHAR,
    error                 VARCHAR,
    duration_ms           DOUBLE,
    entries_seen          INTEGER,
    on_topic              INTEGER,
    known                 INTEGER,
    pages_fetched         INTEGER,
    page_errors           INTEGER,
    extraction_fallbacks  INTEGER,
    new_articles          INTEGER,
    duplicates            INTEGER
);

CREATE TABLE articles (
    article_id       VARCHAR PRIMARY KEY,          -- sha1(canonical_url)[:16]
    source_id        VARCHAR NOT NULL,             -- feed id, or 'seed' for the baseline
    outlet           VARCHAR,
    url              VARCHAR NOT NULL,
    canonical_url    VARCHAR NOT NULL UNIQUE,
    guid             VARCHAR,
    title            VARCHAR,
    author           VARCHAR,
    published_at     TIMESTAMPTZ,
    first_seen_at    TIMESTAMPTZ NOT NULL,
    lang             VARCHAR NOT NULL,             -- zh | en | other
    script           VARCHAR NOT NULL,             -- zh-Hans | zh-Hant | en | other
    text             VARCHAR,                      -- NULL for an exact duplicate: the text is stored once
    text_simplified  VARCHAR,
    text_hash        VARCHAR NOT NULL,
    word_count       INTEGER NOT NULL,
    extraction       VARCHAR NOT NULL,             -- page | feed | feed_fallback | seed
    topics           VARCHAR[],
    is_baseline      BOOLEAN NOT NULL DEFAULT false,
    duplicate_of     VARCHAR,                      -- article_id of the first copy of the same text
    run_id           VARCHAR
);
