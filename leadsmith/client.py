"""A small typed client for any server that speaks the Kaspr API (leadsmith, or Kaspr itself).

    import asyncio
    from leadsmith.client import Client

    async def main() -> None:
        async with Client("http://127.0.0.1:8000", "lsk_...") as kaspr:
            answer = await kaspr.linkedin("https://www.linkedin.com/in/jane-doe", "Jane Doe")
            if answer.ok:
                print(answer.body["profile"]["starryWorkEmail"], answer.credits_spent)

    asyncio.run(main())

It waits instead of hammering: when ``X-RateLimit-Remaining`` reaches 0 it holds every call until
``X-RateLimit-Reset`` (milliseconds) has passed, and on a 429 until ``Retry-After``; timeouts, dropped
connections and 5xx are retried with backoff. Other answers (400, 401, 402, 404) come back as they are.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class ClientAnswer:
    """What the server said: the status, the JSON body (or None), and the headers."""

    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def credits_spent(self) -> int:
        try:
            return int(self.headers.get("decreased-credits", "0"))
        except ValueError:
            return 0

    @property
    def message(self) -> str:
        """An error's message (Kaspr's top-level ``message``, or leadsmith's ``error.message``)."""
        if isinstance(self.body, dict):
            if isinstance(self.body.get("message"), str):
                return str(self.body["message"])
            error = self.body.get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                return str(error["message"])
        return f"HTTP {self.status}"


class ClientError(Exception):
    """No answer after every retry: the server is down, or keeps failing."""


class Client:
    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout: float = 30.0,
        retries: int = 6,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {key}", "accept-version": "v2.0", "Accept": "application/json"},
        )
        self._resume_at = 0.0  # monotonic time before which no call is sent (a spent window)
        self.waited = 0.0  # seconds spent waiting for windows, all calls together

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # --- the API

    async def verify_key(self) -> ClientAnswer:
        return await self.call("GET", "/keys/verifyKey")

    async def remaining_credits(self) -> ClientAnswer:
        return await self.call("GET", "/keys/remainingCredits")

    async def rate_limits(self) -> ClientAnswer:
        return await self.call("GET", "/keys/rateLimits")

    async def linkedin(
        self,
        linkedin: str,
        name: str | None = None,
        data_to_get: list[str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> ClientAnswer:
        """Kaspr v2.0's ``/profile/linkedin`` (work e-mails, direct e-mails, phones)."""
        body: dict[str, Any] = {"id": linkedin}
        if name:
            body["name"] = name
        if data_to_get is not None:
            body["dataToGet"] = data_to_get
        return await self.call("POST", "/profile/linkedin", body, idempotency_key=idempotency_key)

    async def profile(
        self, linkedin: str, name: str, phone_required: bool = False, *, idempotency_key: str | None = None
    ) -> ClientAnswer:
        """The 2020 reference's ``/profile/profile``."""
        body = {"id": linkedin, "name": name, "isPhoneRequired": phone_required}
        return await self.call("POST", "/profile/profile", body, idempotency_key=idempotency_key)

    async def email_finder(
        self,
        domain: str,
        name: str | None = None,
        first: str | None = None,
        last: str | None = None,
        *,
        idempotency_key: str | None = None,
        **more: Any,
    ) -> ClientAnswer:
        """leadsmith's ``/company/emailFinder``."""
        body: dict[str, Any] = {"domain": domain, **more}
        if first or last:
            body |= {k: v for k, v in (("firstName", first), ("lastName", last)) if v}
        else:
            body["name"] = name
        return await self.call("POST", "/company/emailFinder", body, idempotency_key=idempotency_key)

    async def verify(self, email: str, *, idempotency_key: str | None = None) -> ClientAnswer:
        return await self.call("POST", "/email/verify", {"email": email}, idempotency_key=idempotency_key)

    # --- every call

    async def call(
        self, method: str, path: str, body: Any = None, *, idempotency_key: str | None = None
    ) -> ClientAnswer:
        """One call, paced by the key's windows and retried on 429, timeouts and 5xx."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        failure = ""
        attempt = 0
        while attempt <= self.retries:
            await self._pace()
            try:
                response = await self._http.request(method, path, json=body, headers=headers)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
                await self._sleep(self._delay(attempt))
                attempt += 1
                continue
            self._note_window(response)
            if response.status_code == 429:  # the server says when: not a failure, no retry spent
                self._hold(_seconds(response.headers.get("retry-after")) or self._delay(0))
                continue
            if response.status_code >= 500:
                failure = f"HTTP {response.status_code}"
                await self._sleep(self._delay(attempt))
                attempt += 1
                continue
            try:
                data = response.json() if response.content else None
            except ValueError:
                data = None
            return ClientAnswer(response.status_code, data, response.headers)
        raise ClientError(f"{method} {path}: no answer after {self.retries + 1} tries ({failure})")

    def _delay(self, attempt: int) -> float:
        return float(min(30.0, self.backoff * 2**attempt) * (0.5 + random.random() / 2))

    def _note_window(self, response: httpx.Response) -> None:
        """A spent window holds every call until it resets (``X-RateLimit-Reset``: milliseconds)."""
        remaining, reset = response.headers.get("x-ratelimit-remaining"), response.headers.get("x-ratelimit-reset")
        if remaining is not None and remaining.strip() == "0" and reset:
            ms = _seconds(reset)
            if ms is not None:
                self._hold(ms / 1000)

    def _hold(self, seconds: float) -> None:
        self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    async def _pace(self) -> None:
        wait = self._resume_at - time.monotonic()
        if wait > 0:
            self.waited += wait
            await asyncio.sleep(wait)

    @staticmethod
    async def _sleep(seconds: float) -> None:
        await asyncio.sleep(seconds)


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None and value.strip() else None
    except ValueError:
        return None
