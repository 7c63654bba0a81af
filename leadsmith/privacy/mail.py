"""Sending a removal request's confirmation link through the operator's mail relay (``LEADSMITH_MAIL_URL``:
``smtp://host:port``, ``smtp://user:password@host:587`` (STARTTLS when offered), ``smtps://host:465``).

The relay is the operator's own, so it may be on a private network; the recipient is the address the
person gave (or one the store holds for their LinkedIn profile), and the relay delivers it."""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

TIMEOUT_SECONDS = 20.0


def safe_url(url: str) -> str:
    """The relay's URL without its password (for logs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}:{parts.port or ''}"


def relay_of(url: str) -> tuple[str, int, bool, str | None, str | None]:
    """(host, port, implicit TLS, user, password) of a mail URL; ValueError for one that is not."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("LEADSMITH_MAIL_URL must look like smtp://host:25 or smtps://host:465")
    tls = parts.scheme == "smtps"
    port = parts.port or (465 if tls else 25)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, port, tls, user, password


def confirmation(sender: str, to: str, link: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Confirm the removal of your data"
    msg.set_content(
        "Someone (we hope you) asked us to remove the data we hold about you and to stop collecting it.\n\n"
        f"To confirm, open this link within 7 days:\n\n{link}\n\n"
        "If you did not ask for this, ignore this message: nothing will happen.\n"
    )
    return msg


async def send_confirmation(url: str, sender: str, to: str, link: str) -> None:
    host, port, tls, user, password = relay_of(url)
    await aiosmtplib.send(
        confirmation(sender or "leadsmith@localhost", to, link),
        hostname=host,
        port=port,
        use_tls=tls,
        username=user,
        password=password,
        timeout=TIMEOUT_SECONDS,
    )
