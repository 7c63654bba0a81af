"""The one settings class. Every value can come from the environment (``LEADSMITH_`` prefix) or ``.env``."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./leadsmith-data/leadsmith.db"
_DEV_SECRET = secrets.token_urlsafe(32)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADSMITH_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development", description="production refuses to start without LEADSMITH_SECRET_KEY"
    )
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="The store: sqlite:///path/to.db (embedded, the default) or postgresql://user@host/db",
    )
    redis_url: str | None = Field(
        default=None, description="redis://host:6379/0: rate-limit windows shared by many workers and machines"
    )
    redis_prefix: str = Field(
        default="leadsmith:",
        description="Prefix of every Redis key; separates deployments sharing one Redis (each store adds its own "
        "installation id too)",
    )
    counters: Literal["auto", "memory", "file", "database", "redis"] = Field(
        default="auto",
        description="Where rate-limit windows live. auto: redis if redis_url is set, memory for one "
        "worker, a memory-mapped file beside the SQLite store for several, the database (PostgreSQL) "
        "for several without Redis.",
    )
    workers: int = Field(default=1, ge=1, le=64, description="Worker processes `leadsmith serve` runs")
    host: str = Field(default="127.0.0.1", description="Address `leadsmith serve` listens on")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `leadsmith serve` listens on")
    loop: Literal["asyncio", "uvloop"] = Field(
        default="asyncio",
        description="Event loop: asyncio keeps the tail latency low under load; uvloop is ~5% faster on look-ups alone",
    )
    access_log: bool = Field(
        default=False, description="One log line per request (request id, endpoint, status, duration, account id)"
    )
    log_level: str = Field(default="info", description="debug, info, warning, error")
    log_format: Literal["text", "json"] = Field(
        default="text", description="text: plain lines; json: one JSON object per line, for log pipelines"
    )
    secret_key: str = Field(
        default=_DEV_SECRET,
        min_length=16,
        description="Signs portal sessions and forms; random at each start when unset (set it for real use)",
    )

    rate_limit_per_hour: int = Field(
        default=1000, ge=1, description="Requests per window per key (accounts may override)"
    )
    rate_window_seconds: int = Field(default=3600, ge=1, description="Length of a rate-limit window")
    signup_credits: int = Field(default=100, ge=0, description="Credits a new account starts with")
    cost_email: int = Field(default=1, ge=0, description="Price of a lead's e-mails (accounts may override)")
    cost_phone: int = Field(default=2, ge=0, description="Price of a lead's phones (accounts may override)")
    cost_employee: int = Field(default=1, ge=0, description="Price of each employee /company/domainEmployees returns")
    cost_pattern: int = Field(default=0, ge=0, description="Price of a /company/domainPattern answer")
    reveal_window_days: float = Field(
        default=30, ge=0, description="A lead the same account revealed within this window is free again"
    )
    idempotency_ttl_hours: float = Field(
        default=24, gt=0, description="How long a stored response answers retries with the same Idempotency-Key"
    )

    finder_min_score: float = Field(
        default=0.3, ge=0, le=1, description="Least score for a predicted address to be shown in profiles and employees"
    )
    finder_verify: bool = Field(
        default=False,
        description="Whether /company/emailFinder probes its candidates over SMTP when a request does not say "
        '("verify")',
    )
    finder_verify_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="The most a verified finder call waits for the mail server; past it the unprobed candidates "
        "are answered unknown (the probe goes on and is stored)",
    )
    patterns_returned: int = Field(
        default=10, ge=1, le=100, description="Patterns /company/domainPattern returns at most"
    )
    employees_default_limit: int = Field(default=5, ge=1, description="contactsNumberLimit when none is sent")
    employees_max_limit: int = Field(default=100, ge=1, description="Largest contactsNumberLimit accepted")
    max_body_bytes: int = Field(
        default=64 * 1024, ge=256, description="Larger request bodies get a 413 (see BULK_MAX_BODY_BYTES for /bulk/*)"
    )
    auth_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long a verified key is remembered in memory: the revocation delay"
    )
    default_phone_region: str = Field(
        default="US",
        min_length=2,
        max_length=2,
        description="Region of local phone numbers when neither the location nor the domain tells",
    )
    sqlite_busy_timeout_ms: int = Field(
        default=10_000, ge=0, description="How long a SQLite write waits for the lock before a 503"
    )
    db_pool_size: int = Field(
        default=10,
        ge=1,
        description="PostgreSQL connections per worker for transactions (plus half as many for the hot look-ups)",
    )

    # The developer portal (see leadsmith/portal).
    portal_signup_open: bool = Field(default=True, description="Whether anyone may sign up in the portal")
    portal_signup_rate_limit: int | None = Field(
        default=None, ge=1, description="Hourly limit of a new portal account (default: RATE_LIMIT_PER_HOUR)"
    )
    portal_session_days: float = Field(default=14, gt=0, description="How long a portal sign-in lasts")
    portal_login_attempts: int = Field(default=10, ge=1, description="Sign-in attempts per 15 min per IP and e-mail")

    # E-mail verification (see leadsmith/verification).
    cost_verify: int = Field(default=1, ge=0, description="Price of a verification that reaches a verdict")
    dns_nameservers: str = Field(
        default="", description="Comma-separated resolvers, host or host:port (empty: the system's)"
    )
    dns_timeout_seconds: float = Field(default=5.0, gt=0, description="DNS look-up timeout")
    smtp_probe: bool = Field(default=True, description="Probe mail servers over SMTP (off where port 25 is closed)")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Port of the mail servers probed")
    smtp_ehlo_name: str = Field(default="", description="Name given in EHLO: this host's own (default: its FQDN)")
    smtp_mail_from: str = Field(default="", description="MAIL FROM address (default: verify@ the EHLO name)")
    smtp_connect_timeout_seconds: float = Field(default=10.0, gt=0, description="SMTP connection timeout")
    smtp_command_timeout_seconds: float = Field(default=10.0, gt=0, description="Timeout of each SMTP command")
    smtp_sessions_per_host: int = Field(default=2, ge=1, description="Most parallel SMTP sessions per MX host")
    smtp_recipients_per_session: int = Field(default=20, ge=1, description="RCPT commands sent in one SMTP session")
    smtp_rejections_per_session: int = Field(
        default=8,
        ge=1,
        description="Refused recipients after which a session ends and the rest go on in a fresh one (servers "
        "slow down a session after about 10: Postfix's smtpd_soft_error_limit)",
    )
    verify_concurrency: int = Field(default=32, ge=1, description="Domains verified at once")
    verify_max_age_days: float = Field(default=30, gt=0, description="Age after which a stored result is redone")
    verify_recheck_minutes: float = Field(default=15, gt=0, description="Delay before re-checking a greylisted one")
    verify_background: bool = Field(
        default=True, description="Verify imported and predicted addresses in the background"
    )
    verify_background_batch: int = Field(
        default=200, ge=1, description="Addresses the background verifier takes at a time"
    )
    verify_test_domains: bool = Field(
        default=False, description="Accept the reserved .test domains (for tests against loopback DNS and SMTP)"
    )
    verify_private_networks: bool = Field(
        default=False,
        description="Let verification connect to mail hosts at private, loopback or link-local addresses (off: "
        "only public addresses are probed, whatever a domain's DNS says)",
    )
    dns_canary: str = Field(
        default="gmail.com,outlook.com",
        description="Comma-separated domains whose MX must resolve before a domain's absence from DNS is believed "
        "(a resolver that answers NXDOMAIN to everything would otherwise make every address undeliverable)",
    )
    bulk_max_items: int = Field(default=100_000, ge=1, description="Most items one bulk job takes")
    bulk_max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest body a /bulk/* request may send"
    )
    bulk_batch: int = Field(
        default=100,
        ge=1,
        le=5000,
        description="Items a worker looks up and charges at once (larger: faster jobs, longer waits for the "
        "requests beside them)",
    )
    bulk_lease_seconds: float = Field(
        default=30, gt=0, description="How long a worker holds a job between batches before another may take it"
    )
    bulk_retention_days: float = Field(default=30, gt=0, description="How long a finished job's results are kept")
    webhook_private_networks: bool = Field(
        default=False, description="Let bulk jobs' callbacks go to private, loopback or link-local addresses"
    )
    providers_file: Path | None = Field(
        default=None,
        description="A TOML file of upstream providers ([[providers]] tables) asked, in its order, when the store "
        "has no answer",
    )
    upstream_miss_ttl_hours: float = Field(
        default=24, gt=0, description="How long what no provider knew is remembered (so it is not paid for again)"
    )
    audit_retention_days: float = Field(
        default=365,
        ge=0,
        description="How long the reveal log (who received whose data) is kept; 0 keeps no log at all",
    )
    retention_days: float | None = Field(
        default=None,
        gt=0,
        description="Erase people no import or upstream answer has named for this many days (off by default)",
    )
    mail_url: str | None = Field(
        default=None,
        description="Outgoing mail relay for removal confirmations (smtp://host:25, smtps://user:pass@host:465); "
        "without one, removal requests wait for the operator (leadsmith privacy requests)",
    )
    mail_from: str = Field(
        default="", description="From address of the mail leadsmith sends (default leadsmith@localhost)"
    )
    public_url: str = Field(
        default="",
        description="This server's address as people reach it (https://leads.example.com), for the links in the "
        "mail it sends (default: http://HOST:PORT; never the request's Host header)",
    )
    privacy_requests_per_hour: int = Field(
        default=5, ge=1, description="Removal requests a client address may make an hour (twenty times that in all)"
    )
    disposable_allow: str = Field(default="", description="Comma-separated domains never treated as disposable")
    disposable_deny: str = Field(default="", description="Comma-separated domains always treated as disposable")
    webmail_allow: str = Field(default="", description="Comma-separated domains never treated as webmail")
    webmail_deny: str = Field(default="", description="Comma-separated domains always treated as webmail")
    role_allow: str = Field(default="", description="Comma-separated local parts never treated as role addresses")
    role_deny: str = Field(default="", description="Comma-separated local parts always treated as role addresses")

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production" and self.secret_key == _DEV_SECRET:
            raise ValueError("LEADSMITH_SECRET_KEY must be set when LEADSMITH_ENVIRONMENT=production")
        if self.employees_default_limit > self.employees_max_limit:
            raise ValueError("employees_default_limit must not exceed employees_max_limit")
        return self

    @property
    def link_base(self) -> str:
        """Where links in mail point: ``public_url``, else the address the server listens on."""
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def counters_backend(self) -> Literal["memory", "file", "database", "redis"]:
        if self.counters != "auto":
            return self.counters
        if self.redis_url:
            return "redis"
        if self.workers == 1:
            return "memory"
        return "file" if self.is_sqlite and ":memory:" not in self.database_url else "database"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
