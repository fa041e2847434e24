"""Delivering the digest (I/O): the reports/ archive (web copy, .eml, index) and SMTP.

A recipient counts as delivered only once the server has accepted the message for it; failures
are classified (transient 4xx and dropped connections are retried with backoff, 5xx refusals are
not), and the last failure is raised with the server's reply.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Callable

from .config import DigestSettings
from .digest import RenderedDigest, render_index
from .errors import DeliveryError

log = logging.getLogger("mediamon.mail")


@dataclass(frozen=True)
class Credentials:
    """SMTP login, if the server needs one."""

    username: str | None
    password: str | None


def credentials(settings: DigestSettings) -> Credentials:
    """Username and password from the environment, or the password from a Prefect Secret block."""
    username = os.environ.get(settings.smtp_username_env) or None
    password = os.environ.get(settings.smtp_password_env) or None
    if password is None and settings.smtp_password_block:
        from prefect.blocks.system import Secret

        password = Secret.load(settings.smtp_password_block).get()
    return Credentials(username, password)


def compose(digest: RenderedDigest, sender: str, recipients: tuple[str, ...], domain: str = "mediamon.local") -> EmailMessage:
    """A multipart/alternative message: the plain-text twin first, then the HTML (headers RFC 2047-encoded)."""
    message = EmailMessage(policy=SMTP)
    message["Subject"] = digest.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients) if recipients else "undisclosed-recipients:;"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(f"digest.{digest.iso_week}", domain=domain)
    message["X-Mediamon-Week"] = digest.iso_week
    message.set_content(digest.text, subtype="plain", charset="utf-8")
    message.add_alternative(digest.html, subtype="html", charset="utf-8")
    return message


def report_paths(reports_dir: Path, iso_week: str) -> tuple[Path, Path, Path]:
    """(web copy, plain text, .eml) of a week: reports/2025/2025-W06.html and its twins."""
    folder = reports_dir / iso_week.split("-W")[0]
    return folder / f"{iso_week}.html", folder / f"{iso_week}.txt", folder / f"{iso_week}.eml"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that a crash leaves the old one or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def archive(digest: RenderedDigest, message: EmailMessage, reports_dir: Path) -> tuple[Path, Path]:
    """Write the week's web copy, text twin and .eml, and rebuild reports/index.html; return (html, eml) paths."""
    html_path, text_path, eml_path = report_paths(reports_dir, digest.iso_week)
    _write_atomic(html_path, digest.html.encode("utf-8"))
    _write_atomic(text_path, digest.text.encode("utf-8"))
    _write_atomic(eml_path, message.as_bytes())
    root = html_path.parent.parent
    entries = []
    for page in sorted(root.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9][0-9][0-9]-W[0-9][0-9].html")):
        eml = page.with_suffix(".eml")
        subject = ""
        if eml.exists():
            from email import message_from_bytes

            subject = str(message_from_bytes(eml.read_bytes(), policy=SMTP)["Subject"] or "")
        entries.append({"iso_week": page.stem, "href": f"{page.parent.name}/{page.name}", "subject": subject})
    _write_atomic(root / "index.html", render_index(entries).encode("utf-8"))
    return html_path, eml_path


def _connect(settings: DigestSettings) -> smtplib.SMTP:
    """An SMTP connection with the configured security, logged in when credentials are set."""
    timeout = settings.smtp_timeout_seconds
    if settings.smtp_security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                              context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        if settings.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
    creds = credentials(settings)
    if creds.username and creds.password:
        smtp.login(creds.username, creds.password)
    return smtp


def send_once(message: EmailMessage, settings: DigestSettings, recipients: list[str]) -> tuple[list[str], dict[str, str], bool]:
    """One delivery attempt: (accepted recipients, refused recipient -> reply, whether the failure is transient)."""
    sender = parseaddr(settings.sender)[1] or settings.sender
    try:
        smtp = _connect(settings)
    except (OSError, smtplib.SMTPException) as exc:
        return [], {r: f"connection failed: {exc}" for r in recipients}, True
    try:
        refused = smtp.send_message(message, from_addr=sender, to_addrs=recipients)
        replies = {r: f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}" for r, (code, text) in refused.items()}
        transient = any(code < 500 for code, _ in refused.values())
        return [r for r in recipients if r not in refused], replies, transient
    except smtplib.SMTPRecipientsRefused as exc:
        replies = {r: f"{code} {text.decode(errors='replace')}" for r, (code, text) in exc.recipients.items()}
        return [], replies, any(code < 500 for code, _ in exc.recipients.values())
    except smtplib.SMTPResponseException as exc:  # sender refused, data refused (552 …), 421 …
        reply = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
        return [], {r: reply for r in recipients}, exc.smtp_code < 500
    except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
        return [], {r: f"connection lost: {exc}" for r in recipients}, True
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def deliver(message: EmailMessage, settings: DigestSettings, recipients: list[str],
            on_accepted: Callable[[str], None], sleep: Callable[[float], None] = time.sleep) -> None:
    """Send to every recipient, calling on_accepted(recipient) as the server accepts each; retry transient
    failures with exponential backoff; raise DeliveryError with the server's replies when some remain."""
    remaining = list(recipients)
    replies: dict[str, str] = {}
    transient = True
    for attempt in range(1, settings.send_attempts + 1):
        accepted, replies, transient = send_once(message, settings, remaining)
        for recipient in accepted:
            on_accepted(recipient)
        remaining = [r for r in remaining if r not in accepted]
        if not remaining:
            return
        detail = "; ".join(f"{r}: {reply}" for r, reply in replies.items())
        if not transient or attempt == settings.send_attempts:
            break
        wait = settings.send_backoff_seconds * 2 ** (attempt - 1)
        log.warning("digest %s: attempt %d of %d not accepted for %s; retrying in %.0f s",
                    message["X-Mediamon-Week"], attempt, settings.send_attempts, detail, wait)
        sleep(wait)
    detail = "; ".join(f"{r}: {reply}" for r, reply in replies.items())
    raise DeliveryError(f"digest {message['X-Mediamon-Week']} not accepted for {len(remaining)} recipient(s): {detail}",
                        replies, transient)
