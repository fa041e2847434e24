"""The weekly digest: golden files of a frozen warehouse, hostile feed content, SMTP delivery, the web copy in Chromium."""

from __future__ import annotations

import copy
import email
import os
import shutil
from datetime import UTC, datetime
from email.policy import default as default_policy
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fixtures.planted import store_generated
from fixtures.smtp import Sink

from mediamon import mail, reporting
from mediamon.config import DigestSettings
from mediamon.digest import MAX_HTML_BYTES, build_context, render
from mediamon.models import Article
from mediamon.normalize import text_fingerprint, to_simplified
from mediamon.testing import project_config
from mediamon.testing.synth import DEFAULT_FRAME_RATES, WeekPlan, generate, iso_weeks
from mediamon.warehouse import digest_queries

GOLDEN = Path(__file__).parent / "golden"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FROZEN_AT = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
WEEK = "2025-W35"


def _plans() -> list[WeekPlan]:
    """Six small weeks; in the last, the smuggling frame jumps and a new term appears."""
    plans = []
    for i, week in enumerate(iso_weeks("2025-W30", 6)):
        rates = copy.deepcopy(DEFAULT_FRAME_RATES)
        planted = {}
        if i == 5:
            rates["chip_controls"]["smuggling_enforcement"] = 0.6
            planted["chinese_ai"] = (0.5, {"zh": "英伟达据报将为中国市场推出H30芯片。", "en": "Nvidia is said to be preparing an H30 chip for China."})
        plans.append(WeekPlan(week, {"chip_controls": 12, "chinese_ai": 12, "ai_valuations": 10}, rates, planted))
    return plans


HOSTILE_TITLE = '<script>alert("t")</script>出口管制 <img src=x onerror=alert(1)> \u202eevil\u202c\u200b 实体清单'
HOSTILE_TEXT = ('美国商务部更新出口管制规则，又有5家中国企业被列入实体清单。<script>alert("x")</script>'
                '调查人员发现芯片经新加坡和马来西亚转口走私。<iframe src="https://evil.example/"></iframe>'
                '<style>body{display:none}</style><a href="javascript:alert(1)">点此</a>'
                '<img src="https://tracker.example/pixel.gif" width="1" height="1">执法部门加强追踪，起诉了多起芯片走私和欺诈案件。'
                '<base href="https://evil.example/">出口管制规则要求企业在出口H20之前申请许可证。实体清单本周新增条目。')


def _hostile_articles() -> list[Article]:
    """Articles whose title, link and text carry script, handlers, javascript:/data: links, CSS and a pixel."""
    out = []
    at = datetime(2025, 8, 27, 4, tzinfo=UTC)
    seen = datetime(2025, 8, 31, 15, tzinfo=UTC)
    for i, url in enumerate(["javascript:alert(document.cookie)", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
                             "https://evil.example/story?utm_source=x&id=7\" onmouseover=\"alert(1)"]):
        text = HOSTILE_TEXT + f"第{i}篇。"
        out.append(Article(f"hostile{i:010d}", "hostile", f'Evil <b onclick="x()">Outlet</b> {i}', url, f"https://evil.example/{i}",
                           HOSTILE_TITLE, None, at, seen, "zh", "zh-Hans", text, to_simplified(text), text_fingerprint(text + str(i)),
                           len(text), "feed", topics=("chip_controls",)))
    return out


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """A warehouse built the same way on every run (fixed URLs and times), hostile items included."""
    return store_generated(generate(_plans(), seed=11), tmp_path_factory.mktemp("frozen") / "frozen.duckdb",
                           extra=_hostile_articles())


@pytest.fixture(scope="module")
def rendered(frozen):
    """The frozen week's digest."""
    context = build_context(WEEK, frozen.reports.digest_rows(WEEK, reporting.DIGEST_SECTIONS), reporting.week_shifts(frozen, WEEK, project_config()), digest_queries(),
                            project_config().analysis.rulebook.measures, 12, FROZEN_AT)
    return render(context, "mediamon 周报 weekly digest")


def test_digest_matches_golden_files(rendered):
    """HTML and text equal the reviewed golden files (MEDIAMON_UPDATE_GOLDEN=1 regenerates them)."""
    for suffix, content in (("html", rendered.html), ("txt", rendered.text)):
        path = GOLDEN / f"digest-{WEEK}.{suffix}"
        if os.environ.get("MEDIAMON_UPDATE_GOLDEN"):
            path.write_text(content, "utf-8")
        assert path.exists(), f"{path} missing: run MEDIAMON_UPDATE_GOLDEN=1 pytest tests/test_digest.py"
        assert content == path.read_text("utf-8"), f"{path.name} changed: review, then regenerate with MEDIAMON_UPDATE_GOLDEN=1"


def test_digest_says_what_shifted_with_numbers_and_fits_gmail(rendered):
    """The first screen has the week, counts and numbered shifts with figures; the HTML part stays under 100 KB."""
    assert len(rendered.html.encode("utf-8")) < MAX_HTML_BYTES
    assert "2025-W35" in rendered.subject and "周报" in rendered.subject
    head = rendered.text.split("AI VALUATIONS")[0]
    assert "WHAT SHIFTED" in head and "smuggling and enforcement" in head and "h30" in head
    assert "z = " in head and "%" in head
    for section in ("NEW ENTRANTS", "DATA QUALITY", "REPRODUCE", "Top stories", "Chinese:"):
        assert section in rendered.text


class _Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self):
        """Collect (tag, attrs)."""
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.in_body = False

    def handle_starttag(self, tag, attrs):
        """Record a tag."""
        self.in_body |= tag == "body"
        self.tags.append((tag, dict(attrs), self.in_body))


def test_hostile_feed_content_is_inert(rendered):
    """Script, handlers, javascript:/data: links, iframes, CSS, base and remote images from feeds do not survive."""
    html = rendered.html
    parser = _Tags()
    parser.feed(html)
    assert "evil 实体清单" in html, "the hostile story is in the digest (its title without markup)"
    for tag, attrs, in_body in parser.tags:
        assert tag not in ("script", "iframe", "base", "img", "object", "embed", "link", "meta") or (tag == "meta" and not in_body)
        assert tag != "style" or not in_body
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src"):
                assert value.startswith(("http://", "https://")), (tag, value)
                assert "utm_" not in value and '"' not in value
    lowered = html.lower()
    for needle in ("<script", "javascript:", "data:text", "<iframe", "<base", "tracker.example/pixel"):
        assert needle not in lowered, needle
    assert "\u202e" not in html and "\u200b" not in html and "\u202e" not in rendered.subject
    assert "<script" not in rendered.text and "evil 实体清单" in rendered.text  # the plain text carries no markup either


# --- delivery -------------------------------------------------------------------------------------------------

def _settings(port: int, recipients=("ana@example.org", "bo@example.org")) -> DigestSettings:
    """Digest settings for the loopback SMTP server, fast retries."""
    return DigestSettings(recipients=recipients, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                          send_attempts=3, send_backoff_seconds=0.05, smtp_timeout_seconds=5,
                          subject_prefix="mediamon 周报 weekly digest")


def test_the_message_arrives_multipart_with_an_encoded_subject(rendered, smtp_server):
    """multipart/alternative with text then HTML, RFC 2047 subject, every recipient accepted once."""
    sink = Sink()
    settings = _settings(smtp_server(sink))
    message = mail.compose(rendered, settings.sender, settings.recipients)
    accepted = []
    mail.deliver(message, settings, list(settings.recipients), accepted.append)
    assert accepted == list(settings.recipients) and len(sink.messages) == 1
    rcpts, raw = sink.messages[0]
    assert sorted(rcpts) == sorted(settings.recipients)
    headers = raw.split(b"\r\n\r\n", 1)[0]
    subject_line = headers.split(b"Subject: ", 1)[1].split(b"\r\nFrom:", 1)[0]
    assert b"=?utf-8?" in subject_line and "周报".encode() not in subject_line  # RFC 2047 encoded words
    received = email.message_from_bytes(raw, policy=default_policy)
    assert received["Subject"] == rendered.subject
    assert received.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in received.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    html = received.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert html.strip() == rendered.html.replace("\r\n", "\n").strip() and "cid:" not in html and "<img" not in html  # no images to attach: bars are HTML/CSS
    assert received.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == rendered.text.strip()


def test_a_refused_recipient_is_not_counted_as_sent(rendered, smtp_server):
    """550 for one of two: the other is delivered and recorded, the error carries the server's reply, no retry loop."""
    sink = Sink(refuse={"bo@example.org"})
    settings = _settings(smtp_server(sink))
    accepted, slept = [], []
    with pytest.raises(mail.DeliveryError, match="550 5.1.1 mailbox unavailable") as err:
        mail.deliver(mail.compose(rendered, settings.sender, settings.recipients), settings, list(settings.recipients),
                     accepted.append, sleep=slept.append)
    assert accepted == ["ana@example.org"] and not err.value.transient and slept == []
    assert len(sink.messages) == 1


def test_a_dropped_connection_is_retried_and_delivered_once(rendered, smtp_server):
    """The server drops the first DATA: one backoff, then exactly one delivery per recipient."""
    sink = Sink(drop_first=1)
    settings = _settings(smtp_server(sink))
    accepted, slept = [], []
    mail.deliver(mail.compose(rendered, settings.sender, settings.recipients), settings, list(settings.recipients),
                 accepted.append, sleep=slept.append)
    assert sorted(accepted) == sorted(settings.recipients) and len(sink.messages) == 1 and slept == [0.05]


def test_a_server_that_never_answers_fails_with_the_reason(rendered):
    """A refused connection: retried with growing waits, then DeliveryError naming the failure."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens here
    settings = _settings(port)
    slept = []
    with pytest.raises(mail.DeliveryError, match="connection failed") as err:
        mail.deliver(mail.compose(rendered, settings.sender, settings.recipients), settings, list(settings.recipients),
                     lambda r: None, sleep=slept.append)
    assert err.value.transient and slept == [0.05, 0.1]


@pytest.mark.prefect
def test_the_digest_flow_archives_sends_once_and_resends_only_when_forced(frozen, smtp_server, tmp_path, prefect_harness):
    """The weekly-digest flow writes reports/YYYY/WEEK.html, .eml and index.html, sends once, skips a re-run, honours force."""
    import yaml

    from flows.digest import weekly_digest as digest_flow
    from mediamon.testing import project_config

    sink = Sink()
    port = smtp_server(sink)
    doc = yaml.safe_load(project_config().sources_path.read_text("utf-8"))
    doc["digest"].update({"recipients": ["ana@example.org", "bo@example.org"], "smtp_host": "127.0.0.1", "smtp_port": port,
                          "smtp_security": "none", "send_backoff_seconds": 0.05})
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    db = tmp_path / "digest.duckdb"
    shutil.copy(frozen.path, db)
    flow = digest_flow
    first = flow(week=WEEK, sources_path=str(sources), db=str(db), out=str(tmp_path / "reports"), send=True)
    assert first["status"] == "sent to 2 recipient(s)" and len(sink.messages) == 1
    reports = tmp_path / "reports"
    assert (reports / "2025" / f"{WEEK}.html").exists() and (reports / "2025" / f"{WEEK}.eml").exists()
    assert f'href="2025/{WEEK}.html"' in (reports / "index.html").read_text("utf-8")
    again = flow(week=WEEK, sources_path=str(sources), db=str(db), out=str(reports), send=True)
    assert again["status"] == "already sent" and len(sink.messages) == 1
    forced = flow(week=WEEK, sources_path=str(sources), db=str(db), out=str(reports), send=True, force=True)
    assert forced["status"] == "sent to 2 recipient(s)" and len(sink.messages) == 2


# --- the web copy in a browser -------------------------------------------------------------------------------

def _chromium() -> str:
    """Debian's chromium, or skip with the reason."""
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does it)")


def test_web_copy_renders_cleanly_at_desktop_and_phone_widths(rendered, tmp_path):
    """No console errors and no horizontal overflow at 1280 and 390 px; screenshots kept in test-artifacts/."""
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    page_file = tmp_path / f"{WEEK}.html"
    page_file.write_text(rendered.html, "utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            for name, width, height in (("desktop", 1280, 900), ("phone", 390, 844)):
                page = browser.new_page(viewport={"width": width, "height": height})
                errors: list[str] = []
                page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                page.on("request", lambda r, errors=errors: errors.append(f"network request: {r.url}")
                        if not r.url.startswith("file:") else None)
                page.goto(page_file.as_uri())
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                shot = ARTIFACTS / f"digest-{WEEK}-{name}.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"\nscreenshot: {shot}")
                assert errors == [], errors
                assert overflow <= 0, f"{name}: the page is {overflow}px wider than the viewport"
                page.close()
        finally:
            browser.close()


def test_a_volume_z_past_the_threshold_from_fewer_sources_says_it_is_no_burst():
    """Beside a volume z of 30 the digest says why it is not a burst when the previous weeks heard 2.5 outlets a week
    against 36 now; with the sources steady, or a small z, it says nothing."""
    from mediamon.digest import _fewer_sources_note

    limits = project_config().analysis.rulebook.measures
    grown = {"burst_z": 30.0, "prev_outlets_collected": 2.5, "outlets_collected": 36}
    assert _fewer_sources_note(grown, limits) == "not a burst: the previous weeks heard 2.5 outlets a week, this week 36"
    assert _fewer_sources_note({**grown, "prev_outlets_collected": 30.0}, limits) is None
    assert _fewer_sources_note({**grown, "burst_z": 1.0}, limits) is None
