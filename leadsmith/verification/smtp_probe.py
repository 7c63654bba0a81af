"""Asking a domain's mail servers about mailboxes over SMTP, never sending anything.

One session per batch of addresses at a domain: EHLO with our own name, MAIL FROM our address, RCPT
for a random address (is the domain catch-all?) and then for each real one, QUIT. Never DATA. At most
``sessions_per_host`` sessions at a time per MX host, whatever the number of addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiosmtplib

from leadsmith.verification.rules import Reply, classify_reply


@dataclass(frozen=True, slots=True)
class Answer:
    """The server's reply to RCPT for one address, or why there was none (``error``)."""

    host: str
    code: int = 0
    message: str = ""
    reply: Reply = Reply.UNKNOWN
    error: str = ""

    def as_dict(self) -> dict[str, object]:
        if self.error:
            return {"host": self.host, "error": self.error}
        return {"host": self.host, "code": self.code, "message": self.message, "reply": self.reply.value}


@dataclass
class Probe:
    answers: dict[str, Answer] = field(default_factory=dict)
    catch_all: bool | None = None
    sessions: int = 0


class _SessionFailed(Exception):
    def __init__(self, reason: str, progressed: bool, address: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.progressed = progressed
        self.address = address


class SmtpProber:
    def __init__(
        self,
        *,
        port: int = 25,
        ehlo_name: str,
        mail_from: str,
        connect_timeout: float = 10.0,
        command_timeout: float = 10.0,
        sessions_per_host: int = 2,
        recipients_per_session: int = 20,
    ) -> None:
        self.port = port
        self.ehlo_name = ehlo_name
        self.mail_from = mail_from
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.sessions_per_host = sessions_per_host
        self.recipients_per_session = recipients_per_session
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(sessions_per_host))

    async def probe(
        self,
        domain: str,
        hosts: Sequence[tuple[str, str]],
        addresses: Sequence[str],
        catch_all: bool | None = None,
    ) -> Probe:
        """Ask the first host that answers about every address; ``catch_all`` is asked only if None.

        ``hosts`` are (MX name, IP address) pairs in preference order; the session limit is per MX name.
        """
        out = Probe(catch_all=catch_all)
        pending = list(dict.fromkeys(addresses))
        failures: list[str] = []

        async def worker() -> None:
            for host, ip in hosts:
                while pending:
                    try:
                        async with self._hosts[host]:
                            if not pending:
                                return
                            out.sessions += 1
                            await self._session(host, ip, domain, pending, out)
                    except _SessionFailed as e:
                        failures.append(e.reason)
                        if e.address is not None:  # the address being asked when the session broke
                            out.answers[e.address] = Answer(host, error=e.reason)
                        if not e.progressed:
                            break  # this host does not talk to us: the next one may
                if not pending:
                    return

        # As many sessions at once as the per-host limit allows, sharing the domain's addresses.
        sessions = min(self.sessions_per_host, -(-len(pending) // self.recipients_per_session))
        await asyncio.gather(*(worker() for _ in range(max(1, sessions))))
        for address in pending:
            out.answers[address] = Answer(
                hosts[-1][0] if hosts else "", error=failures[-1] if failures else "no mail host"
            )
        return out

    async def _session(self, host: str, ip: str, domain: str, pending: list[str], out: Probe) -> None:
        """One SMTP session; each address it asks about is taken off ``pending``."""
        smtp = aiosmtplib.SMTP(
            hostname=ip,
            port=self.port,
            local_hostname=self.ehlo_name,
            timeout=self.command_timeout,
            start_tls=False,
            use_tls=False,
        )
        progressed = False
        current: str | None = None
        try:
            try:
                await smtp.connect(timeout=self.connect_timeout)
                reply = await smtp.execute_command(b"EHLO", self.ehlo_name.encode())
                if reply.code != 250:
                    reply = await smtp.execute_command(b"HELO", self.ehlo_name.encode())
                if reply.code != 250:
                    raise _SessionFailed(f"greeting refused: {reply.code} {reply.message}", False)
                reply = await smtp.execute_command(b"MAIL", b"FROM:<" + self.mail_from.encode() + b">")
                if reply.code != 250:
                    raise _SessionFailed(f"sender refused: {reply.code} {reply.message}", False)
                if out.catch_all is None:
                    probe_address = f"leadsmith-{secrets.token_hex(6)}@{domain}"
                    answer = await self._rcpt(smtp, host, probe_address)
                    if answer.reply is Reply.DELIVERABLE:
                        out.catch_all = True
                    elif answer.reply is Reply.UNDELIVERABLE:
                        out.catch_all = False
                    elif answer.reply is Reply.TOO_MANY:
                        return
                progressed = True
                for _ in range(self.recipients_per_session):
                    if not pending:
                        break
                    current = pending.pop(0)
                    answer = await self._rcpt(smtp, host, current)
                    if answer.reply is Reply.TOO_MANY:
                        pending.insert(0, current)  # a fresh session takes it from here
                        current = None
                        break
                    out.answers[current] = answer
                    current = None
            except (TimeoutError, aiosmtplib.SMTPException, OSError) as e:
                if current is not None and not progressed:
                    pending.insert(0, current)
                    current = None
                raise _SessionFailed(_describe(e), progressed, current) from None
            with contextlib.suppress(TimeoutError, aiosmtplib.SMTPException, OSError):
                await smtp.execute_command(b"QUIT")
        finally:
            smtp.close()

    async def _rcpt(self, smtp: aiosmtplib.SMTP, host: str, address: str) -> Answer:
        reply = await smtp.execute_command(b"RCPT", b"TO:<" + address.encode() + b">")
        message = reply.message.replace("\n", " ")[:300]
        return Answer(host, reply.code, message, classify_reply(reply.code, message))


def _describe(e: BaseException) -> str:
    if isinstance(e, aiosmtplib.SMTPTimeoutError | asyncio.TimeoutError):
        return "timeout"
    if isinstance(e, aiosmtplib.SMTPServerDisconnected):
        return "connection dropped"
    if isinstance(e, aiosmtplib.SMTPConnectError | ConnectionRefusedError):
        return "connection refused"
    return f"{type(e).__name__}: {e}"[:200]
