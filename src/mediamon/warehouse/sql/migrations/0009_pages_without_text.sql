-- 0009: a page that yields no usable text, with no text in its feed either, is no longer only a log line: each
-- poll counts such pages and names them, so the digest's data-quality panel and `mediamon status` show them.
-- They are not stored as articles (there is nothing to read), so the next run tries them again.
ALTER TABLE feed_polls ADD COLUMN no_text INTEGER DEFAULT 0;   -- pages with no usable text, nor any in the feed
ALTER TABLE feed_polls ADD COLUMN no_text_urls VARCHAR[];      -- their URLs
