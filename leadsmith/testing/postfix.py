"""A real Postfix (Debian's package) on a loopback port, configured here, for the verifier's tests and bench.

Its anti-abuse settings stay at Postfix's defaults (``smtpd_soft_error_limit = 10``,
``smtpd_error_sleep_time = 1s``, ``smtpd_hard_error_limit = 20``, ``in_flow_delay = 1s``): what a prober
meets on the internet. Domains:

- ``known.test``: the mailboxes given (a virtual mailbox table), every other address 550 5.1.1;
- ``catchall.test``: accepts every address;
- ``grey.test``: 450 4.7.1 for every recipient (a deferring policy: greylisting as a prober sees it);
- ``policy.test``: 554 5.7.1 for every recipient (a policy block).

Mail is never delivered (the transport is ``discard``); the verifier never sends any. Needs root (Postfix's
master starts as root and drops to the postfix user) and ``/usr/sbin/postfix``: ``available()`` says whether
this machine can run it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from leadsmith.testing.processes import free_port

POSTFIX = "/usr/sbin/postfix"


def available() -> str | None:
    """None when Postfix can run here, else why not."""
    if not Path(POSTFIX).exists():
        return "Debian's postfix package is not installed (apt-get install postfix)"
    if os.geteuid() != 0:
        return "Postfix's master must start as root"
    return None


@dataclass
class Postfix:
    port: int
    directory: Path

    @property
    def log(self) -> Path:
        return self.directory / "postfix.log"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def sessions(self, since: int = 0) -> tuple[int, int]:
        """(sessions, the most open at once) that Postfix's log records after character ``since``."""
        open_now = most = total = 0
        for line in self.log_text()[since:].splitlines():
            if re.search(r"smtpd\[\d+\]: connect from", line):
                open_now, total = open_now + 1, total + 1
                most = max(most, open_now)
            elif re.search(r"smtpd\[\d+\]: disconnect from", line):
                open_now -= 1
        return total, most


def _main_cf(d: Path, mailboxes_file: Path, access_file: Path) -> str:
    return f"""
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
myhostname = mx.postfix.test
mydomain = postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = known.test catchall.test grey.test policy.test
virtual_mailbox_maps = texthash:{mailboxes_file}
virtual_transport = discard
smtpd_recipient_restrictions = check_recipient_access texthash:{access_file}, reject_unauth_destination
smtpd_reject_unlisted_recipient = yes
maillog_file = {d}/postfix.log
maillog_file_prefixes = {d}
smtpd_banner = $myhostname ESMTP
"""


@contextmanager
def postfix_server(mailboxes: Iterable[str]) -> Iterator[Postfix]:
    """Postfix on a free loopback port with ``mailboxes`` at known.test (and the other domains above), in a
    directory of its own that the postfix user can reach (removed after)."""
    problem = available()
    if problem is not None:
        raise RuntimeError(problem)
    d = Path(tempfile.mkdtemp(prefix="leadsmith-postfix-"))
    d.chmod(0o755)
    conf = d / "conf"
    for sub in ("conf", "queue", "data"):
        (d / sub).mkdir()
    shutil.chown(d / "data", "postfix")
    port = free_port()
    mailboxes_file = conf / "vmailbox"
    mailboxes_file.write_text("".join(f"{m} ok\n" for m in mailboxes) + "@catchall.test ok\n")
    access_file = conf / "access"
    access_file.write_text(
        "grey.test 450 4.7.1 Greylisted, please try again later\n"
        "policy.test 554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org\n"
    )
    (conf / "main.cf").write_text(_main_cf(d, mailboxes_file, access_file))
    master = Path("/etc/postfix/master.cf").read_text().splitlines()
    out = [f"127.0.0.1:{port} inet n - n - - smtpd"]
    out += [line for line in master if not line.startswith(("smtp      inet", "#"))]
    (conf / "master.cf").write_text("\n".join(out) + "\n")
    for extra in ("dynamicmaps.cf",):
        if Path(f"/etc/postfix/{extra}").exists():
            shutil.copy(f"/etc/postfix/{extra}", conf / extra)
    subprocess.run([POSTFIX, "-c", str(conf), "start"], check=True, capture_output=True, timeout=60)  # noqa: S603
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(64).startswith(b"220"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Postfix did not answer on 127.0.0.1:{port}")
            time.sleep(0.1)
        yield Postfix(port, d)
    finally:
        subprocess.run([POSTFIX, "-c", str(conf), "stop"], capture_output=True, timeout=60)  # noqa: S603
        shutil.rmtree(d, ignore_errors=True)
