-- 0005: the weekly digests that were built, and every recipient each was delivered to.
CREATE TABLE digests (
    iso_week     VARCHAR PRIMARY KEY,
    built_at     TIMESTAMPTZ NOT NULL,
    html_path    VARCHAR,
    eml_path     VARCHAR,
    subject      VARCHAR NOT NULL,
    html_bytes   INTEGER NOT NULL,
    sent_at      TIMESTAMPTZ          -- set once the server accepted the message for every recipient
);

CREATE TABLE digest_deliveries (
    iso_week     VARCHAR NOT NULL,
    recipient    VARCHAR NOT NULL,
    accepted_at  TIMESTAMPTZ NOT NULL, -- written right after the server accepted this recipient
    message_id   VARCHAR NOT NULL
);
