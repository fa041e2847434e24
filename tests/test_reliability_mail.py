"""Reliability (issue 7): SMTP faults. A recipient counts as sent only once the server accepted the
message for it, and a retried run sends each week's digest exactly once per recipient.

Loopback servers only: aiosmtpd handlers that answer RCPT or DATA with a chosen reply, and a raw
socket server for what aiosmtpd cannot do (421 in the greeting, a server that never answers).
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from email.policy import default as default_policy

import pytest

from mediamon import mail
from mediamon.config import DigestSettings
from mediamon.digest import RenderedDigest

ANA, BO = "ana@example.org", "bo@example.org"
DIGEST = RenderedDigest("2025-W35", "mediamon weekly digest 2025-W35: quiet", "<p>hello</p>", "hello")


class Scripted:
    """aiosmtpd handler: replies come from per-stage scripts (first calls first), then 250; stores accepted mail."""

    def __init__(self, rcpt: dict[str, list[str]] | None = None, data: list[str] | None = None, hang_data: int = 0):
        """rcpt: recipient -> replies for its next RCPT commands; data: replies for the next DATA commands;
        hang_data: how many DATA commands get no reply at all (the client must time out)."""
        self.rcpt = {k: list(v) for k, v in (rcpt or {}).items()}
        self.data = list(data or [])
        self.hang_data = hang_data
        self.messages: list[tuple[list[str], bytes]] = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        """The scripted reply for this recipient, else accept it."""
        script = self.rcpt.get(address)
        if script:
            return script.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        """Hang, reply as scripted, or store the message (one stored message per accepted DATA)."""
        if self.hang_data:
            self.hang_data -= 1
            await asyncio.sleep(3)  # longer than the client's timeout: it gives up first
            return "451 4.3.0 too late"
        if self.data:
            return self.data.pop(0)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"

    def deliveries(self) -> dict[str, int]:
        """How many stored messages each recipient got."""
        counts: dict[str, int] = {}
        for rcpts, _ in self.messages:
            for r in rcpts:
                counts[r] = counts.get(r, 0) + 1
        return counts


class RawServer:
    """A loopback TCP server that greets each connection with a fixed line (or says nothing) and then waits."""

    def __init__(self, greeting: bytes | None):
        """greeting: e.g. b'421 ...' (sent, then the connection is closed); None: accept and never answer."""
        self.greeting = greeting
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        """Accept connections until closed."""
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            if self.greeting is None:
                self.held.append(conn)  # keep it open and silent
            else:
                conn.sendall(self.greeting + b"\r\n")
                conn.close()

    def close(self) -> None:
        """Stop listening and drop held connections."""
        self.sock.close()
        for c in self.held:
            c.close()


def _settings(port: int, attempts: int = 3, timeout: float = 5) -> DigestSettings:
    """Digest settings for a loopback server: two recipients, fast backoff."""
    return DigestSettings(recipients=(ANA, BO), smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                          send_attempts=attempts, send_backoff_seconds=0.05, smtp_timeout_seconds=timeout)


def _deliver(settings: DigestSettings, recipients=(ANA, BO)) -> tuple[list[str], list[float], mail.DeliveryError | None]:
    """One call of mail.deliver: (recipients recorded as accepted, backoff waits, the error raised if any)."""
    accepted, slept = [], []
    message = mail.compose(DIGEST, settings.sender, settings.recipients)
    try:
        mail.deliver(message, settings, list(recipients), accepted.append, sleep=slept.append)
    except mail.DeliveryError as exc:
        return accepted, slept, exc
    return accepted, slept, None


@pytest.mark.reliability("retried after a backoff; each recipient gets exactly one copy")
@pytest.mark.parametrize("reply", ["421 4.3.2 service shutting down", "451 4.3.0 local error in processing"])
def test_transient_refusal_of_data_is_retried_and_delivered_once(smtp_server, reply):
    """SMTP 421/451 answering DATA"""
    sink = Scripted(data=[reply])
    accepted, slept, error = _deliver(_settings(smtp_server(sink)))
    assert error is None and sorted(accepted) == [ANA, BO] and slept == [0.05]
    assert sink.deliveries() == {ANA: 1, BO: 1}


@pytest.mark.reliability("the accepted recipient is recorded once; the deferred one is retried alone")
def test_451_for_one_recipient_retries_only_that_recipient(smtp_server):
    """SMTP 451 for one of two recipients"""
    sink = Scripted(rcpt={BO: ["451 4.7.1 greylisted, try again later"]})
    accepted, slept, error = _deliver(_settings(smtp_server(sink)))
    assert error is None and accepted == [ANA, BO] and slept == [0.05]
    assert sink.deliveries() == {ANA: 1, BO: 1} and len(sink.messages) == 2
    assert sink.messages[1][0] == [BO], "the retry addressed only the deferred recipient"


@pytest.mark.reliability("nobody recorded as sent; error names 552; no retry of a permanent refusal")
def test_552_refusing_the_message_is_permanent(smtp_server):
    """SMTP 552 (message too big / storage exceeded) answering DATA"""
    sink = Scripted(data=["552 5.3.4 message size exceeds fixed limit"])
    accepted, slept, error = _deliver(_settings(smtp_server(sink)))
    assert accepted == [] and slept == [] and sink.messages == []
    assert error is not None and not error.transient and "552 5.3.4" in str(error)
    assert set(error.replies) == {ANA, BO}


@pytest.mark.reliability("not sent; retried with backoff; error carries the 421 greeting")
def test_421_in_the_greeting_is_retried_then_reported(tmp_path):
    """SMTP 421 in the greeting (server not available)"""
    server = RawServer(b"421 4.3.2 mx.example.org too busy, closing")
    try:
        accepted, slept, error = _deliver(_settings(server.port))
    finally:
        server.close()
    assert accepted == [] and slept == [0.05, 0.1] and server.connections == 3
    assert error is not None and error.transient and "421" in str(error) and "too busy" in str(error)


@pytest.mark.reliability("a silent server times out; not sent; each attempt bounded by smtp_timeout_seconds")
def test_a_server_that_never_answers_times_out(tmp_path):
    """SMTP server accepts the connection and hangs"""
    server = RawServer(None)
    start = time.monotonic()
    try:
        accepted, slept, error = _deliver(_settings(server.port, attempts=2, timeout=0.5))
    finally:
        server.close()
    assert accepted == [] and slept == [0.05] and error is not None and error.transient
    assert "timed out" in str(error) and time.monotonic() - start < 5


@pytest.mark.reliability("no reply to DATA: not counted as sent; the retry delivers exactly once")
def test_a_hang_after_data_is_not_counted_as_sent(smtp_server):
    """SMTP server hangs after the message body (no reply to DATA)"""
    sink = Scripted(hang_data=1)
    accepted, slept, error = _deliver(_settings(smtp_server(sink), timeout=0.5))
    assert error is None and sorted(accepted) == [ANA, BO] and slept == [0.05]
    assert sink.deliveries() == {ANA: 1, BO: 1}


# --- through the weekly-digest flow: what is recorded, and what the next run sends ----------------------------

@pytest.fixture(scope="module")
def small_warehouse(tmp_path_factory):
    """A small generated warehouse with one digestible week (2025-W31)."""
    from fixtures.planted import store_generated

    from mediamon.testing.synth import DEFAULT_FRAME_RATES, WeekPlan, generate

    plans = [WeekPlan(w, {"chip_controls": 4, "chinese_ai": 4, "ai_valuations": 3}, DEFAULT_FRAME_RATES, {})
             for w in ("2025-W30", "2025-W31")]
    return store_generated(generate(plans, seed=5), tmp_path_factory.mktemp("mailwh") / "mail.duckdb")


def _flow_sources(tmp_path, port: int):
    """A sources file whose digest goes to two recipients on the loopback server."""
    import yaml

    from mediamon.testing import project_config

    doc = yaml.safe_load(project_config().sources_path.read_text("utf-8"))
    doc["digest"].update({"recipients": [ANA, BO], "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
                          "send_attempts": 2, "send_backoff_seconds": 0.05, "smtp_timeout_seconds": 0.5})
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    return path


def _fault(kind: str, smtp_server):
    """(port, handler or None, closer) of a server that fails the first run in the way `kind` names."""
    if kind == "refused connection":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1], None, lambda: None
    if kind == "421 greeting":
        raw = RawServer(b"421 4.3.2 too busy")
        return raw.port, None, raw.close
    if kind == "hang":
        raw = RawServer(None)
        return raw.port, None, raw.close
    scripts = {"451 data": Scripted(data=["451 4.3.0 try later"] * 2),
               "552 data": Scripted(data=["552 5.3.4 too big"]),
               "550 one of two": Scripted(rcpt={BO: ["550 5.1.1 mailbox unavailable"]})}
    sink = scripts[kind]
    return smtp_server(sink), sink, lambda: None


@pytest.mark.prefect
@pytest.mark.reliability("the run fails naming the reply; digest not marked sent; the retry sends once per recipient")
@pytest.mark.parametrize("kind", ["550 one of two", "421 greeting"] + [  # ~5 s each: the rest only in make reliability
    pytest.param(k, marks=pytest.mark.slow) for k in ("552 data", "451 data", "hang", "refused connection")])
def test_digest_flow_after_an_smtp_fault_sends_exactly_once_per_recipient(small_warehouse, smtp_server, tmp_path, kind,
                                                                         prefect_harness):
    """Digest flow: an SMTP fault, then the next run"""
    import shutil

    from flows.digest import weekly_digest as digest_flow
    from mediamon.warehouse import Warehouse

    week = "2025-W31"
    db = tmp_path / "mail.duckdb"
    shutil.copy(small_warehouse.path, db)
    flow = digest_flow
    port, sink, close = _fault(kind, smtp_server)
    try:
        with pytest.raises(mail.DeliveryError) as err:
            flow(week=week, sources_path=str(_flow_sources(tmp_path, port)), db=str(db), out=str(tmp_path / "r"), send=True)
    finally:
        close()
    warehouse = Warehouse(db)
    first_recorded = warehouse.reports.deliveries(week)
    assert warehouse.reports.digest_sent_at(week) is None, "a failed delivery is never reported as sent"
    assert BO in str(err.value), "the error names the recipient still waiting"
    if kind == "550 one of two":
        assert first_recorded == {ANA} and sink.deliveries() == {ANA: 1}
    else:
        assert first_recorded == set() and (sink is None or sink.messages == [])

    # The fault clears: the next run sends to whoever is still owed the digest, once; a third run sends nothing.
    healthy = Scripted()
    sources = _flow_sources(tmp_path, smtp_server(healthy))
    again = flow(week=week, sources_path=str(sources), db=str(db), out=str(tmp_path / "r"), send=True)
    expected = {BO: 1} if kind == "550 one of two" else {ANA: 1, BO: 1}
    assert healthy.deliveries() == expected and again["status"] == f"sent to {len(expected)} recipient(s)"
    assert warehouse.reports.deliveries(week) == {ANA, BO} and warehouse.reports.digest_sent_at(week) is not None
    third = flow(week=week, sources_path=str(sources), db=str(db), out=str(tmp_path / "r"), send=True)
    assert third["status"] == "already sent" and healthy.deliveries() == expected
    received = email.message_from_bytes(healthy.messages[0][1], policy=default_policy)
    assert received["X-Mediamon-Week"] == week


@pytest.mark.prefect
@pytest.mark.reliability("the digest run fails with WarehouseBusy naming the warehouse; nothing is sent")
def test_a_digest_while_an_ingest_holds_the_warehouse_gives_up_clearly(small_warehouse, smtp_server, tmp_path,
                                                                       prefect_harness):
    """Digest while another run holds the warehouse (lock_wait_seconds: 0)"""
    import shutil

    import yaml

    from flows.digest import weekly_digest as digest_flow
    from mediamon.errors import WarehouseBusy
    from mediamon.warehouse import Warehouse

    db = tmp_path / "mail.duckdb"
    shutil.copy(small_warehouse.path, db)
    sink = Scripted()
    sources = _flow_sources(tmp_path, smtp_server(sink))
    doc = yaml.safe_load(sources.read_text("utf-8"))
    doc["digest"]["lock_wait_seconds"] = 0
    sources.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    with Warehouse(db).run_lock("ingest") as held:  # what a running ingest holds
        assert held
        with pytest.raises(WarehouseBusy, match=str(db)):
            digest_flow(week="2025-W31", sources_path=str(sources), db=str(db),
                                              out=str(tmp_path / "r"), send=True)
    assert sink.messages == [] and Warehouse(db).reports.deliveries("2025-W31") == set()
