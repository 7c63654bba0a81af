"""Every table, as SQLAlchemy Core. Times are integer epoch milliseconds, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ms = sa.BigInteger

# PostgreSQL's fill factor for the tables of hot rows (``HOT_TABLES``, below): new rows fill a page to
# 10% only, and the rest holds the new versions of updated rows. PostgreSQL prunes a page's dead
# versions on access once its free space falls under the fill factor's share (else under 10%), so a
# balance updated thousands of times a minute keeps a chain of a few versions, not ~100: after 6,000
# charges to one account its balance read at 9,500 per second (pgbench, 8 clients) with the default
# of 100, and at 65,000 with 10; PostgreSQL's CPU per profile look-up 276 -> 148 us.
HOT_FILLFACTOR = 10
_HOT_STORAGE = {"fillfactor": HOT_FILLFACTOR}

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("credits", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rate_limit", sa.Integer, nullable=True),
    sa.Column("cost_email", sa.Integer, nullable=True),
    sa.Column("cost_phone", sa.Integer, nullable=True),
    sa.Column("cost_employee", sa.Integer, nullable=True),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("created_at", Ms, nullable=False),
    # Credit pools per kind (Kaspr v2): NULL for none (the kind draws on ``credits``), -1 for unlimited.
    sa.Column("work_email_credits", sa.BigInteger, nullable=True),
    sa.Column("direct_email_credits", sa.BigInteger, nullable=True),
    sa.Column("phone_credits", sa.BigInteger, nullable=True),
    sa.Column("export_credits", sa.BigInteger, nullable=True),
    # Windows beside the hourly one (``rate_limit``), per key: NULL for none.
    sa.Column("daily_limit", sa.Integer, nullable=True),
    sa.Column("minutely_limit", sa.Integer, nullable=True),
    sa.CheckConstraint("credits >= 0", name="credits_not_negative"),
    postgresql_with=_HOT_STORAGE,
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column(
        "account_id",
        Id,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("last_used_at", Ms, nullable=True),
    sa.Column("revoked_at", Ms, nullable=True),
    postgresql_with=_HOT_STORAGE,
)

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column(
        "account_id",
        Id,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("delta", sa.BigInteger, nullable=False),
    sa.Column("balance_after", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("endpoint", sa.String(64), nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("created_at", Ms, nullable=False),
    # Which balance moved: NULL for the general one (``accounts.credits``), else a pool's kind.
    sa.Column("pool", sa.String(16), nullable=True),
    sa.Index("ix_ledger_account_id_created_at", "account_id", "created_at"),
)

reveals = sa.Table(
    "reveals",
    metadata,
    sa.Column(
        "account_id",
        Id,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "person_id",
        Id,
        sa.ForeignKey("people.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("revealed_at", Ms, nullable=False),
    # On SQLite its rows live in its primary key's order, not in a rowid table beside that key's own
    # index: a charge writes one page of it to the WAL, not two (migration 0013).
    sqlite_with_rowid=False,
)

idempotency = sa.Table(
    "idempotency",
    metadata,
    sa.Column(
        "account_id",
        Id,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Ms, nullable=False, index=True),
)

rate_windows = sa.Table(
    "rate_windows",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("window_start", Ms, nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    postgresql_with=_HOT_STORAGE,
)

# One row: this store's own identity. ``id`` namespaces what the store shares with others (rate-limit
# windows in a Redis that several stores use); ``secret`` keys the hashes that must not be readable.
installation = sa.Table(
    "installation",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("secret", sa.String(64), nullable=False),
    sa.Column("created_at", Ms, nullable=False),
    # Bumped by every change to the suppression list: workers reload it when it moves.
    sa.Column("suppression_version", sa.BigInteger, nullable=False, server_default="0"),
)

companies = sa.Table(
    "companies",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("domain", sa.String(253), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=True),
    sa.Column("created_at", Ms, nullable=False),
)

people = sa.Table(
    "people",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("linkedin_id", sa.String(255), nullable=True),
    sa.Column("linkedin_key", sa.String(255), nullable=True, unique=True),
    sa.Column("sales_nav_id", sa.String(255), nullable=True, unique=True),
    sa.Column("full_name", sa.String(512), nullable=True),
    sa.Column("first_name", sa.String(255), nullable=True),
    sa.Column("last_name", sa.String(255), nullable=True),
    sa.Column("title", sa.String(512), nullable=True),
    sa.Column("location", sa.String(512), nullable=True),
    sa.Column("company_name", sa.String(255), nullable=True),
    sa.Column(
        "company_id",
        Id,
        sa.ForeignKey("companies.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
    # When an import or an upstream answer last named the person (retention counts from it).
    sa.Column("seen_at", Ms, nullable=True),
)
# A company's people newest first (/company/domainEmployees), and people by name (/company/emailFinder).
sa.Index("ix_people_company_id_updated_at", people.c.company_id, people.c.updated_at.desc(), people.c.id)
sa.Index("ix_people_name", sa.func.lower(people.c.last_name), sa.func.lower(people.c.first_name))

emails = sa.Table(
    "emails",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column(
        "person_id",
        Id,
        sa.ForeignKey("people.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("address", sa.String(320), nullable=False),
    sa.Column("address_key", sa.String(320), nullable=False, unique=True),
    sa.Column("domain", sa.String(253), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("valid", sa.Boolean, nullable=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("first_seen", Ms, nullable=False),
    sa.Column("last_seen", Ms, nullable=False),
    # How sure the provider that gave the address is that it is the person's (0-1); NULL when imported.
    sa.Column("confidence", sa.Float, nullable=True),
)

phones = sa.Table(
    "phones",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("person_id", Id, sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
    sa.Column("e164", sa.String(32), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("first_seen", Ms, nullable=False),
    sa.Column("last_seen", Ms, nullable=False),
    sa.UniqueConstraint("person_id", "e164"),
)

domain_patterns = sa.Table(
    "domain_patterns",
    metadata,
    sa.Column("domain", sa.String(253), primary_key=True),
    sa.Column("template", sa.String(64), primary_key=True),
    sa.Column("cap", sa.Integer, primary_key=True),
    sa.Column("support", sa.Float, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
)

predicted_emails = sa.Table(
    "predicted_emails",
    metadata,
    sa.Column("person_id", Id, sa.ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("address", sa.String(320), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("pattern", sa.String(64), nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
    # A verdict that an address bounces finds the people predicted at it (see VerificationService.on_bounced).
    sa.Index("ix_predicted_emails_address", "address"),
)

verifications = sa.Table(
    "verifications",
    metadata,
    sa.Column("address_key", sa.String(320), primary_key=True),
    sa.Column("domain", sa.String(253), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("verified_at", Ms, nullable=False, index=True),
    sa.Column("recheck_at", Ms, nullable=True, index=True),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("expires_at", Ms, nullable=False),
    postgresql_with=_HOT_STORAGE,
)

portal_sessions = sa.Table(
    "portal_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("expires_at", Ms, nullable=False, index=True),
)

usage_hourly = sa.Table(
    "usage_hourly",
    metadata,
    sa.Column("account_id", Id, nullable=False),
    sa.Column("key_id", Id, nullable=False),
    sa.Column("hour", Ms, nullable=False),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("credits", sa.BigInteger, nullable=False, server_default="0"),
    sa.PrimaryKeyConstraint("account_id", "key_id", "hour", "endpoint", "status"),
    postgresql_with=_HOT_STORAGE,
)

# Every call made to an upstream provider: what for, for whom, what came of it and what it cost.
upstream_calls = sa.Table(
    "upstream_calls",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("lookup", sa.String(16), nullable=False),
    sa.Column("account_id", Id, nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),  # hit, miss, error
    sa.Column("units", sa.Float, nullable=False),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("detail", sa.String(255), nullable=True),
    sa.Column("created_at", Ms, nullable=False),
    sa.Index("ix_upstream_calls_provider_created_at", "provider", "created_at"),
    sa.Index("ix_upstream_calls_account_id_created_at", "account_id", "created_at"),
)

# What no provider knew, remembered for a while so that nobody pays to ask again.
upstream_misses = sa.Table(
    "upstream_misses",
    metadata,
    sa.Column("key", sa.String(320), primary_key=True),
    sa.Column("expires_at", Ms, nullable=False),
)

# One ask upstream at a time for the same thing, across workers: the holder asks, the others wait for it.
upstream_flights = sa.Table(
    "upstream_flights",
    metadata,
    sa.Column("key", sa.String(320), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("expires_at", Ms, nullable=False),
)

# Bulk jobs: one row each, and one row per item in input order, with its result once done.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # public: job_ + 24 random characters
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key_id", Id, sa.ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),  # profile, emailFinder, verify
    sa.Column("status", sa.String(16), nullable=False),  # queued, running, done, cancelled, failed
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("processed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("found", sa.Integer, nullable=False, server_default="0"),
    sa.Column("credits_spent", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("counts", sa.Text, nullable=False, server_default="{}"),  # JSON: result status -> items
    sa.Column("options", sa.Text, nullable=False, server_default="{}"),  # JSON: e.g. {"verify": true}
    sa.Column("callback_url", sa.String(2048), nullable=True),
    sa.Column("error", sa.String(512), nullable=True),
    sa.Column("holder", sa.String(64), nullable=True),  # the worker working on it, while its lease lasts
    sa.Column("lease_until", Ms, nullable=True),
    sa.Column("not_before", Ms, nullable=True),  # resting: a window of its key is spent until then
    sa.Column("webhook_state", sa.String(16), nullable=True),  # pending, delivered, failed
    sa.Column("webhook_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("webhook_next_at", Ms, nullable=True),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("started_at", Ms, nullable=True),
    sa.Column("finished_at", Ms, nullable=True),
    sa.Index("ix_jobs_account_id_created_at", "account_id", "created_at"),
    sa.Index("ix_jobs_status", "status"),
    postgresql_with=_HOT_STORAGE,
)

job_items = sa.Table(
    "job_items",
    metadata,
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("ref", sa.String(255), nullable=True),
    sa.Column("input", sa.Text, nullable=False),  # the item as sent (JSON)
    sa.Column("status", sa.String(24), nullable=True),  # NULL until done: found, not_found, invalid, ...
    sa.Column("result", sa.Text, nullable=True),  # the result line (JSON)
    sa.Column("charged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("finished_at", Ms, nullable=True),
)

# Who opted out: keyed hashes (HMAC-SHA256 under the installation's secret) of an e-mail address, a
# LinkedIn profile, a phone number or a whole domain, so that a leaked list names nobody.
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("hash", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # email, linkedin, phone, domain
    sa.Column("origin", sa.String(32), nullable=False),  # cli, api, request, erasure
    sa.Column("created_at", Ms, nullable=False),
)

# People's requests to have their data removed, kept until they are carried out.
privacy_requests = sa.Table(
    "privacy_requests",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("identity", sa.String(2048), nullable=False),  # as the person gave it, to act on it
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=True, unique=True),  # of the link mailed to confirm it
    sa.Column("state", sa.String(16), nullable=False),  # pending, mailed, done, rejected
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("done_at", Ms, nullable=True),
)

# Who received whose data: every reveal, kept LEADSMITH_AUDIT_RETENTION_DAYS.
reveal_log = sa.Table(
    "reveal_log",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("account_id", Id, nullable=False),
    sa.Column("key_id", Id, nullable=True),
    # No foreign key: an erasure sets it NULL itself, and a row buffered before it must not fail the flush.
    sa.Column("person_id", Id, nullable=True, index=True),
    sa.Column("fields", sa.String(64), nullable=False),  # e.g. work_email,phone
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("created_at", Ms, nullable=False, index=True),  # the first of these reveals (since the last flush)
    sa.Column("count", sa.Integer, nullable=False, server_default="1"),  # how many times since the last flush
)

# Operators' credentials for the admin API (not API keys): only their SHA-256 is kept.
admin_tokens = sa.Table(
    "admin_tokens",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("last_used_at", Ms, nullable=True),
    sa.Column("revoked_at", Ms, nullable=True),
)

# The indexes none of an import's look-ups use (by name, by company, an address's person or domain).
# An import into an empty store drops them and builds each after its rows, in one sort, instead of
# inserting into them at random places row by row (a million people: rows 52 -> 40 s, builds 2 s);
# ``migrate.upgrade`` builds any that an interrupted import left out.
DEFERRABLE_INDEXES: tuple[sa.Index, ...] = tuple(
    sorted((i for t in (people, emails) for i in t.indexes if not i.unique), key=lambda i: str(i.name))
)
# PostgreSQL checks a foreign key row by row, with a query of its own for each row written (a third
# of its work in an import). An import into an empty store drops the foreign keys of the rows it
# writes and adds them back after its rows, each checked in one join; ``migrate.upgrade`` adds back
# any an interrupted import left out. (SQLite's check is a look-up by rowid: kept.)
DEFERRABLE_FOREIGN_KEYS: tuple[sa.ForeignKeyConstraint, ...] = tuple(
    sorted((fk for t in (people, emails, phones) for fk in t.foreign_key_constraints), key=lambda fk: str(fk.name))
)
# The names of the indexes a store has, by dialect.
INDEX_NAMES_SQL = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index'",
    "postgresql": "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()",
}
_FOREIGN_KEY_NAMES_SQL = (
    "SELECT conname FROM pg_constraint WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
)


def deferrables_sql(dialect: str) -> str:
    """A query for the names of the store's indexes and foreign keys (what ``restore_deferrables`` reads)."""
    if dialect == "postgresql":
        return f"{INDEX_NAMES_SQL[dialect]} UNION ALL {_FOREIGN_KEY_NAMES_SQL}"
    return INDEX_NAMES_SQL[dialect]


def drop_deferrables(dialect: str) -> list[sa.schema.ExecutableDDLElement]:
    """The statements that drop the deferrable indexes (and, on PostgreSQL, foreign keys)."""
    drops: list[sa.schema.ExecutableDDLElement] = [sa.schema.DropIndex(i, if_exists=True) for i in DEFERRABLE_INDEXES]
    if dialect == "postgresql":
        drops += [sa.schema.DropConstraint(fk, if_exists=True) for fk in DEFERRABLE_FOREIGN_KEYS]
    return drops


def restore_deferrables(dialect: str, existing: set[str]) -> list[sa.schema.ExecutableDDLElement]:
    """The statements that build the deferrable indexes (and add the foreign keys) a store lacks, given
    the names it has (from ``deferrables_sql``)."""
    out: list[sa.schema.ExecutableDDLElement] = [
        sa.schema.CreateIndex(i) for i in DEFERRABLE_INDEXES if i.name not in existing
    ]
    if dialect == "postgresql":
        out += [sa.schema.AddConstraint(fk) for fk in DEFERRABLE_FOREIGN_KEYS if fk.name not in existing]
    return out


# Small tables whose rows are rewritten by requests (balances, key use, rate windows, usage counts,
# leases): on PostgreSQL each update leaves a dead row version, and the store vacuums these itself
# (``PostgresDatabase.start_housekeeping``).
HOT_TABLES: tuple[str, ...] = tuple(t.name for t in (accounts, api_keys, rate_windows, usage_hourly, leases))
