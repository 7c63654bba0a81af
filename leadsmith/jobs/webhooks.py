"""A job's callback: its URL checked, its body signed like Stripe's, sent with retries.

    Leadsmith-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the account's secret>

The account's webhook secret is derived from the installation's own secret (nothing more to store or to
leak): ``leadsmith accounts webhook-secret EMAIL`` and the portal show it. To check a delivery, compute
the HMAC of ``f"{t}.{raw body}"`` with it and compare to ``v1`` (and refuse a ``t`` too old).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import time
from urllib.parse import urlsplit

import aiohttp

from leadsmith.egress import is_public, refusal
from leadsmith.errors import field_error

SIGNATURE = "Leadsmith-Signature"
BACKOFF_SECONDS = (10, 30, 120, 600, 1800, 3600, 3600, 3600)  # then it is given up


def account_secret(installation_secret: str, account_id: int) -> str:
    digest = hmac.new(installation_secret.encode(), f"webhook:{account_id}".encode(), hashlib.sha256).hexdigest()
    return f"whsec_{digest}"


def signature(secret: str, body: bytes, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """What a receiver does (and the tests): the header's v1 is this body's, signed at most ``tolerance`` s ago."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, body, t).split("v1=", 1)[1]
    return abs(time.time() - t) <= tolerance and hmac.compare_digest(expected, parts.get("v1", ""))


async def check_url(url: str, private_networks: bool) -> str | None:
    """Why the server will not POST to ``url`` (None when it may): not http(s), no host, or a host that
    resolves to an address that is not public (unless the operator allows private networks)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if private_networks:
        return None
    try:
        found = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        return f"the host {parts.hostname!r} does not resolve"
    for *_, address in found:
        ip = str(address[0])
        if not is_public(ip):
            return refusal(parts.hostname, ip, "WEBHOOK_PRIVATE_NETWORKS")
    return None


async def checked_url(url: str | None, private_networks: bool) -> str | None:
    """``callbackUrl`` as given, or a 400 naming what is wrong with it."""
    if url is None:
        return None
    problem = await check_url(url, private_networks)
    if problem:
        raise field_error("callbackUrl", problem)
    return url


SEND_TIMEOUT_SECONDS = 10.0


async def send(url: str, body: bytes, secret: str) -> str | None:
    """POST the signed body; None when the receiver took it (2xx), else why not."""
    timeout = SEND_TIMEOUT_SECONDS
    headers = {"Content-Type": "application/json", SIGNATURE: signature(secret, body), "User-Agent": "leadsmith"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(url, data=body, headers=headers, allow_redirects=False) as response,
        ):
            if 200 <= response.status < 300:
                return None
            return f"the receiver answered {response.status}"
    except (TimeoutError, aiohttp.ClientError) as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
