"""Asking a domain's mail servers about mailboxes over SMTP, never sending anything.

One session per batch of addresses at a domain: EHLO with our own name, MAIL FROM our address, RCPT
for a random address (is the domain catch-all?) and then for each real one, QUIT. Never DATA. At most
``sessions_per_host`` sessions at a time per MX host, whatever the number of addresses.

What real servers do to a prober, and what this does about it:

- Error counting: Postfix (``smtpd_soft_error_limit = 10``, ``smtpd_error_sleep_time = 1s``) and most
  others answer slowly after a number of refused commands in one session and drop it a little later.
  A session ends after ``rejections_per_session`` refused recipients (8 by default, under any common
  limit), and the rest go on in a fresh one, which starts its count again.
- Tarpits: each reply is timed; one much slower than the session's first (at least ``TARPIT_SECONDS``)
  ends the session, and the host is then asked one session at a time for ``BACKOFF_SECONDS`` instead of
  being queued on.
- PIPELINING: where the server offers it, the recipients go in groups in one write (never more than the
  session's remaining error budget), their replies read in order: one round trip for many addresses.
- RSET: a 452 "too many recipients" is answered with RSET and a new MAIL FROM in the same session.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from leadsmith.verification.rules import Reply, classify_reply

# A reply at least this slow, and several times the session's first, is a tarpit (Postfix sleeps 1 s).
TARPIT_SECONDS = 0.5
TARPIT_RATIO = 4.0
BACKOFF_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Answer:
    """The server's reply to RCPT for one address, or why there was none (``error``)."""

    host: str
    code: int = 0
    message: str = ""
    reply: Reply = Reply.UNKNOWN
    error: str = ""
    seconds: float = 0.0  # how long the reply took

    def as_dict(self) -> dict[str, object]:
        if self.error:
            return {"host": self.host, "error": self.error}
        return {"host": self.host, "code": self.code, "message": self.message, "reply": self.reply.value}


@dataclass
class Probe:
    answers: dict[str, Answer] = field(default_factory=dict)
    catch_all: bool | None = None
    sessions: int = 0
    tarpits: int = 0  # sessions ended because the server slowed its replies
    catch_all_asked: bool = False  # one session asks; the others of the probe need not


class _Dropped(Exception):
    """The server closed the connection."""


@dataclass(frozen=True, slots=True)
class _Reply:
    code: int
    message: str


class _Smtp:
    """The little of SMTP a prober speaks, over asyncio streams: commands, replies (multi-line ones
    joined), and pipelined groups of commands whose replies are read in order. (aiosmtplib reads one
    reply per command written, so it cannot pipeline.)"""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self.reader, self.writer, self.timeout = reader, writer, timeout
        self.extensions: set[str] = set()

    @classmethod
    async def connect(cls, ip: str, port: int, connect_timeout: float, command_timeout: float) -> _Smtp:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), connect_timeout)
        return cls(reader, writer, command_timeout)

    async def reply(self) -> _Reply:
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), self.timeout)
            if not line:
                raise _Dropped("connection dropped")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text[4:])
            if len(text) < 4 or text[3] != "-":
                try:
                    code = int(text[:3])
                except ValueError:
                    raise _Dropped(f"not an SMTP reply: {text[:80]!r}") from None
                return _Reply(code, "\n".join(lines))

    async def command(self, line: bytes) -> _Reply:
        self.writer.write(line + b"\r\n")
        return await self.reply()

    async def ehlo(self, name: str) -> _Reply:
        reply = await self.command(b"EHLO " + name.encode())
        if reply.code == 250:
            self.extensions = {x.split(" ", 1)[0].lower() for x in reply.message.split("\n")[1:]}
        return reply

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


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
        rejections_per_session: int = 8,
        pipelining: bool = True,
    ) -> None:
        self.port = port
        self.ehlo_name = ehlo_name
        self.mail_from = mail_from
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.sessions_per_host = sessions_per_host
        self.recipients_per_session = recipients_per_session
        self.rejections_per_session = rejections_per_session
        self.pipelining = pipelining
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(sessions_per_host))
        self._slow_until: dict[str, float] = {}  # hosts that tarpitted us: one session at a time until then

    def _sessions_for(self, host: str) -> int:
        slow = self._slow_until.get(host, 0.0) > time.monotonic()
        return 1 if slow else self.sessions_per_host

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

        # As many sessions at once as the per-host limit allows, sharing the domain's addresses (one, for a
        # host that slowed us down lately).
        limit = self._sessions_for(hosts[0][0]) if hosts else 1
        sessions = min(limit, -(-len(pending) // self.recipients_per_session))
        await asyncio.gather(*(worker() for _ in range(max(1, sessions))))
        for address in pending:
            out.answers[address] = Answer(
                hosts[-1][0] if hosts else "", error=failures[-1] if failures else "no mail host"
            )
        return out

    async def _session(self, host: str, ip: str, domain: str, pending: list[str], out: Probe) -> None:
        """One SMTP session; each address it asks about is taken off ``pending``."""
        smtp: _Smtp | None = None
        progressed = False
        inflight: list[str] = []  # the address being asked when the session broke, if any
        try:
            try:
                smtp = await _Smtp.connect(ip, self.port, self.connect_timeout, self.command_timeout)
                greeting = await smtp.reply()
                if greeting.code != 220:
                    raise _SessionFailed(f"greeting refused: {greeting.code} {greeting.message}", False)
                reply = await smtp.ehlo(self.ehlo_name)
                if reply.code != 250:
                    reply = await smtp.command(b"HELO " + self.ehlo_name.encode())
                if reply.code != 250:
                    raise _SessionFailed(f"greeting refused: {reply.code} {reply.message}", False)
                await self._mail_from(smtp)
                rejected = [0]  # refused recipients in this session (the server's error count)
                baseline: list[float] = []  # the session's first reply time
                if out.catch_all is None and not out.catch_all_asked:
                    out.catch_all_asked = True
                    probe_address = f"leadsmith-{secrets.token_hex(6)}@{domain}"
                    answer = await self._rcpt(smtp, host, probe_address)
                    baseline.append(answer.seconds)
                    rejected[0] += not 200 <= answer.code < 300
                    if answer.reply is Reply.DELIVERABLE:
                        out.catch_all = True
                    elif answer.reply is Reply.UNDELIVERABLE:
                        out.catch_all = False
                    elif answer.reply is Reply.TOO_MANY:
                        return
                progressed = True
                await self._recipients(smtp, host, pending, out, rejected, baseline, inflight)
            except (TimeoutError, OSError, _Dropped) as e:
                current = inflight[0] if inflight else None
                raise _SessionFailed(_describe(e), progressed, current) from None
            with contextlib.suppress(TimeoutError, OSError, _Dropped):
                await smtp.command(b"QUIT")
        finally:
            if smtp is not None:
                smtp.close()

    async def _mail_from(self, smtp: _Smtp) -> None:
        reply = await smtp.command(b"MAIL FROM:<" + self.mail_from.encode() + b">")
        if reply.code != 250:
            raise _SessionFailed(f"sender refused: {reply.code} {reply.message}", False)

    async def _recipients(
        self,
        smtp: _Smtp,
        host: str,
        pending: list[str],
        out: Probe,
        rejected: list[int],
        baseline: list[float],
        inflight: list[str],
    ) -> None:
        """RCPT for pending addresses until the session's budget is spent (recipients, refusals), the server
        tarpits, or none is left; each asked address is taken off ``pending`` and answered in ``out``."""
        asked = since_reset = 0
        pipelined = self.pipelining and "pipelining" in smtp.extensions
        while pending and asked < self.recipients_per_session:
            budget = self.rejections_per_session - rejected[0]
            if budget <= 0:
                return  # a fresh session starts the server's error count again
            size = min(budget, self.recipients_per_session - asked, len(pending)) if pipelined else 1
            group = pending[:size]
            del pending[:size]
            answers: list[Answer] = []
            try:
                await self._rcpts(smtp, host, group, answers)
            except BaseException:
                # What was answered stands; the address being asked when the session broke gets the error
                # (it may be what broke it), the rest of the group goes back to the pending ones.
                for address, answer in zip(group, answers, strict=False):
                    out.answers[address] = answer
                pending[:0] = group[len(answers) + 1 :]
                inflight[:] = group[len(answers) : len(answers) + 1]
                raise
            for n, (address, answer) in enumerate(zip(group, answers, strict=True)):
                if answer.reply is Reply.TOO_MANY:
                    if n == 0 and since_reset == 0:
                        # Not one recipient in a fresh envelope: asking again would loop; said, not judged.
                        out.answers[address] = Answer(host, error=f"{answer.code} {answer.message}"[:300])
                        pending[:0] = group[1:]
                        return
                    pending[:0] = group[n:]  # asked again after a reset (or in a fresh session)
                    break
                out.answers[address] = answer
                asked += 1
                since_reset += 1
                rejected[0] += not 200 <= answer.code < 300
            else:
                if self._tarpitted(host, answers, baseline, out):
                    return
                continue
            # 452: RSET and a new envelope in this session, if the server lets us
            reset = await smtp.command(b"RSET")
            if reset.code != 250:
                return
            await self._mail_from(smtp)
            since_reset = 0

    def _tarpitted(self, host: str, answers: list[Answer], baseline: list[float], out: Probe) -> bool:
        if not answers:
            return False
        if not baseline:
            baseline.append(answers[0].seconds)
        slowest = max(a.seconds for a in answers)
        if slowest >= TARPIT_SECONDS and slowest >= TARPIT_RATIO * max(baseline[0], 0.01):
            self._slow_until[host] = time.monotonic() + BACKOFF_SECONDS
            out.tarpits += 1
            return True
        return False

    async def _rcpts(self, smtp: _Smtp, host: str, addresses: list[str], out: list[Answer]) -> None:
        """RCPT for each address, the replies appended to ``out`` as they come (so that a session broken
        half-way keeps what it was told): one round trip for them all when pipelined, each reply timed
        from when the one before it arrived."""
        if len(addresses) == 1:
            out.append(await self._rcpt(smtp, host, addresses[0]))
            return
        smtp.writer.write(b"".join(b"RCPT TO:<" + a.encode() + b">\r\n" for a in addresses))
        started = time.perf_counter()
        for _ in addresses:
            reply = await smtp.reply()
            now = time.perf_counter()
            out.append(_answer(host, reply, now - started))
            started = now

    async def _rcpt(self, smtp: _Smtp, host: str, address: str) -> Answer:
        started = time.perf_counter()
        reply = await smtp.command(b"RCPT TO:<" + address.encode() + b">")
        return _answer(host, reply, time.perf_counter() - started)


def _answer(host: str, reply: _Reply, seconds: float) -> Answer:
    message = reply.message.replace("\n", " ")[:300]
    return Answer(host, reply.code, message, classify_reply(reply.code, message), seconds=seconds)


def _describe(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timeout"
    if isinstance(e, _Dropped | ConnectionResetError | BrokenPipeError):
        return "connection dropped"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    return f"{type(e).__name__}: {e}"[:200]
