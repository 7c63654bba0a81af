"""The ``leadsmith`` console script. Each command opens the store, calls a service and prints the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor as PoolExecutor
from pathlib import Path
from typing import Annotated, TypeVar

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from leadsmith import __version__, logs, server
from leadsmith import doctor as doctor_checks
from leadsmith.access import repository as access_repository
from leadsmith.access.schemas import Account
from leadsmith.access.service import AccessService
from leadsmith.admin.service import AdminService
from leadsmith.config import Settings, get_settings
from leadsmith.contacts.demo import DEMO_ACCOUNT, demo_records
from leadsmith.contacts.files import ImportFile
from leadsmith.contacts.import_service import COUNTS, ImportService, ImportSummary
from leadsmith.contacts.parallel import default_jobs, parse_file_in, process_pool
from leadsmith.contacts.records import canonical_column, recognised_columns
from leadsmith.db import migrate
from leadsmith.db.database import Database, Executor, open_database, shown_url, store_problem, supported_url
from leadsmith.errors import LeadsmithError
from leadsmith.jobs.webhooks import account_secret as webhook_secret
from leadsmith.metering import credits as credit_rules
from leadsmith.metering import repository as metering_repository
from leadsmith.metering.credits import KIND_NAMES
from leadsmith.metering.schemas import PoolKind
from leadsmith.metering.service import installation_secret
from leadsmith.patterns.service import PatternService
from leadsmith.privacy.audit import RevealLog
from leadsmith.privacy.identity import Identity, NotAnIdentity, parse_identity
from leadsmith.privacy.service import PrivacyService
from leadsmith.privacy.suppression import SuppressionList
from leadsmith.providers import repository as provider_repository
from leadsmith.providers.base import LOOKUPS, ProviderError, lookups_of
from leadsmith.providers.config import ProviderConfig, ProvidersFileError
from leadsmith.providers.config import load as load_providers
from leadsmith.providers.registry import build as build_provider
from leadsmith.providers.registry import factories as provider_kinds
from leadsmith.verification.service import VerificationService
from leadsmith.verification.verifier import Verifier

T = TypeVar("T")

app = typer.Typer(
    help="leadsmith: a self-hosted contact-enrichment API server.", no_args_is_help=True, add_completion=False
)
accounts_app = typer.Typer(help="Create and list accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
credits_app = typer.Typer(help="Grant credits and read balances.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
app.add_typer(credits_app, name="credits")
providers_app = typer.Typer(help="The upstream providers of LEADSMITH_PROVIDERS_FILE.", no_args_is_help=True)
app.add_typer(providers_app, name="providers")
privacy_app = typer.Typer(
    help="Opt-outs (the suppression list), erasure, access export and removal requests.", no_args_is_help=True
)
app.add_typer(privacy_app, name="privacy")
admin_app = typer.Typer(help="The admin API's credentials.", no_args_is_help=True)
admin_token_app = typer.Typer(help="Create, list and revoke admin tokens (lsa_...).", no_args_is_help=True)
admin_app.add_typer(admin_token_app, name="token")
app.add_typer(admin_app, name="admin")

# Piped into a file or another program, tables are not cut to 80 columns.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def _run(settings: Settings, body: Callable[[Database], Awaitable[T]], sqlite_cache_mb: int = 64) -> T:
    """Migrate, open the store, run ``body``, close; a LeadsmithError, or a store that cannot be used,
    becomes a one-line message and exit 1 (the traceback too with --debug)."""
    try:
        supported_url(settings.database_url)
        migrate.upgrade(settings.database_url)
    except Exception as exc:
        _store_failed(settings.database_url, exc)
        raise

    async def main() -> T:
        db = open_database(
            settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms, sqlite_cache_mb=sqlite_cache_mb
        )
        try:
            return await body(db)
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except LeadsmithError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    except Exception as exc:
        _store_failed(settings.database_url, exc)
        raise


_DEBUG = {"on": False}


def _store_failed(url: str, exc: Exception) -> None:
    """Say in one line why the store cannot be used, and exit 1; return (to show the traceback) for
    anything else, or with --debug."""
    problem = store_problem(url, exc)
    if problem is None:
        return
    err.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
    if _DEBUG["on"]:
        return
    raise typer.Exit(1) from None


def _print_version(value: bool) -> None:
    if value:
        out.print(f"leadsmith {__version__}")
        raise typer.Exit


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of a failure")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    """leadsmith: a self-hosted contact-enrichment API server."""
    _DEBUG["on"] = debug


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default LEADSMITH_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default LEADSMITH_PORT or 8000)")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default LEADSMITH_WORKERS or 1)")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo data and print a demo API key first")] = False,
) -> None:
    """Run the API server (migrating the database first)."""
    if workers is not None:
        os.environ["LEADSMITH_WORKERS"] = str(workers)
    if demo:
        # The demo's companies are made up, but their domains may be someone's: do not probe their mail
        # servers from here unless asked to (LEADSMITH_VERIFY_BACKGROUND=true).
        os.environ.setdefault("LEADSMITH_VERIFY_BACKGROUND", "false")
    get_settings.cache_clear()
    settings = _settings()
    bind_host, bind_port = host or settings.host, port if port is not None else settings.port
    try:  # first: a server that cannot listen changes nothing in the store
        sock = server.bind(settings, bind_host, bind_port)
    except server.AddressInUse as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    bind_port = sock.getsockname()[1]
    if demo:
        _load_demo(settings)
    else:
        _run(settings, _nothing)
    announce = _announcer(settings)
    announce(
        f"leadsmith on http://{bind_host}:{bind_port}  (docs: /docs, {settings.workers} worker(s), "
        f"counters: {settings.counters_backend()})",
        False,
    )
    announce(_background_notice(settings), False)
    if settings.counters_backend() == "redis" and settings.redis_url:
        problem = redis_problem(settings.redis_url)
        if problem:
            announce(problem, True)
    server.run(settings, bind_host, bind_port, sock)


def _announcer(settings: Settings) -> Callable[[str, bool], None]:
    """How ``serve`` says where it listens: printed lines, or log records under LEADSMITH_LOG_FORMAT=json
    (so that every line a log pipeline reads is JSON)."""
    if settings.log_format == "json":
        logs.configure(settings.log_level, settings.log_format)
        logger = logging.getLogger("leadsmith")

        def log(text: str, warning: bool) -> None:
            logger.log(logging.WARNING if warning else logging.INFO, text)

        return log

    def show(text: str, warning: bool) -> None:
        if warning:
            err.print(f"[yellow]warning:[/yellow] {text}", highlight=False, soft_wrap=True)
        else:
            out.print(text, highlight=False, soft_wrap=True)

    return show


def redis_problem(url: str) -> str | None:
    """Why the Redis at ``url`` does not answer, in one sentence, or None when it does."""
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
        return None
    except (RedisError, OSError) as exc:
        return (
            f"the Redis at {shown_url(url)} does not answer ({exc}): requests get 503 rate_limiter_unavailable "
            "until it does. Check LEADSMITH_REDIS_URL and that Redis is running."
        )
    finally:
        client.close()


async def _nothing(_: Database) -> None:
    """Opening the store (after migrating it) is the check: a store the server cannot use fails here."""


def _background_notice(settings: Settings) -> str:
    if not settings.verify_background:
        return "background verification: off (LEADSMITH_VERIFY_BACKGROUND=true turns it on)"
    how = f"DNS, then SMTP on port {settings.smtp_port}" if settings.smtp_probe else "DNS only"
    sender = settings.smtp_mail_from or f"verify@{settings.smtp_ehlo_name or 'this host'}"
    return (
        "background verification: on. Stored and predicted work addresses are checked against their domains'"
        f" mail servers from this machine ({how}, as {sender}); LEADSMITH_VERIFY_BACKGROUND=false turns it off"
    )


@app.command()
def doctor() -> None:
    """Check what an operator gets wrong first (the store, Redis, the secret key, DNS, outbound port 25, the
    providers' keys, the mail relay, free disk), one line each with how to fix it. Exit 1 if any fails."""
    settings = _settings()
    marks = {
        "ok": "[green]ok  [/green]",
        "warn": "[yellow]warn[/yellow]",
        "fail": "[red]FAIL[/red]",
        "skip": "[dim]skip[/dim]",
    }

    def show(check: doctor_checks.Check) -> None:
        out.print(f"{marks[check.status]} {check.name}: {check.message}", highlight=False, soft_wrap=True)

    found = asyncio.run(doctor_checks.run_checks(settings, show))
    failed = [c.name for c in found if c.status == "fail"]
    if failed:
        err.print(f"{len(failed)} check(s) failed: {', '.join(failed)}")
        raise typer.Exit(1)


@app.command("migrate")
def migrate_cmd() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    _run(settings, _nothing)
    out.print("database is up to date")


def _print_summary(summary: ImportSummary, show_errors: int) -> None:
    for label, rows in (("skipped", summary.errors), ("warning", summary.warnings)):
        for e in rows[:show_errors]:
            err.print(f"line {e.line}: {label}: {e.reason}")
        if len(rows) > show_errors:
            err.print(f"... and {len(rows) - show_errors} more {label} lines")
    table = Table(title="import summary", show_header=False)
    for name in COUNTS:
        table.add_row(name.replace("_", " "), str(getattr(summary, name)))
    table.add_row("warnings", str(len(summary.warnings)))
    table.add_row("domains re-learned", str(summary.patterns_refreshed))
    table.add_row("seconds: rows", f"{summary.rows_seconds:.1f}")
    table.add_row("seconds: patterns", f"{summary.patterns_seconds:.1f}")
    out.print(table)


@app.command("import")
def import_cmd(
    files: Annotated[
        list[Path], typer.Argument(help="CSV, TSV or JSON Lines files", exists=True, dir_okay=False, readable=True)
    ],
    source: Annotated[
        str | None, typer.Option(help="Source label stored with each address (default: the file name)")
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            max=100_000,
            help="Rows per transaction: larger ones write each index page less often, smaller ones keep a live"
            " server's writes waiting less (on SQLite)",
        ),
    ] = 20_000,
    show_errors: Annotated[int, typer.Option(help="How many refused rows to print")] = 50,
    jobs: Annotated[
        int | None,
        typer.Option(
            min=1, help="Processes parsing rows and learning patterns (default: one per core for files over 4 MB)"
        ),
    ] = None,
) -> None:
    """Import contacts; a person is merged by LinkedIn id, then by e-mail. Importing twice changes nothing.

    Exit status: 0 when the rows landed (a refused row is reported with its line and reason); 1 when
    every row was refused; 2 when a file has no column the import reads (nothing is written); 3 when rows
    landed but lines of a damaged file were skipped (a quote that never closes).
    """
    settings = _settings()
    for path in files:
        _check_columns(path)
    workers = jobs or default_jobs()
    # Starting worker processes costs about a second: by default, worth it from a few tens of thousands of rows.
    if jobs is None and sum(p.stat().st_size for p in files) < PARALLEL_IMPORT_BYTES:
        workers = 1
    with process_pool(workers) if workers > 1 else contextlib.nullcontext() as pool:
        summary = _run(
            settings, lambda db: _import_files(db, settings, files, source, batch_size, pool), IMPORT_CACHE_MB
        )
    _print_summary(summary, show_errors)
    damaged = [e for e in summary.errors if e.reason.startswith("unterminated quote")]
    if summary.rows and summary.skipped == summary.rows:
        err.print(f"[red]error:[/red] every one of the {summary.rows} rows was refused: nothing was imported")
        raise typer.Exit(1)
    if damaged:
        lines = ", ".join(str(e.line) for e in damaged[:10]) + (" ..." if len(damaged) > 10 else "")
        err.print(
            f"[yellow]damaged file:[/yellow] {len(damaged)} line(s) open a quote that never closes ({lines}); "
            "they were skipped and every other row was read. Fix the quotes and import the file again."
        )
        raise typer.Exit(3)


def _check_columns(path: Path) -> None:
    """Stop before anything is written when a file names no column the import reads."""
    with ImportFile(path) as f:
        columns = f.columns()
    if any(canonical_column(c) for c in columns):
        return
    known = "; ".join(f"{name} ({', '.join(spellings)})" for name, spellings in recognised_columns().items())
    found = ", ".join(repr(c) for c in columns[:10]) or "none"
    err.print(
        f"[red]error:[/red] {path.name}: no column the import reads (found {found}). "
        f"The columns it reads, with the spellings it accepts (any case, with spaces, _ or -): {known}. "
        "Nothing was imported."
    )
    raise typer.Exit(2)


PARALLEL_IMPORT_BYTES = 4_000_000
# SQLite's page cache for an import: room for the indexes of a few million people, which it inserts into
# all over (a million people: 113 s with the default 64 MB, 98 s with this).
IMPORT_CACHE_MB = 256


async def _import_files(
    db: Database, settings: Settings, files: list[Path], source: str | None, batch_size: int, pool: PoolExecutor | None
) -> ImportSummary:
    region = settings.default_phone_region
    db.start_housekeeping()  # SQLite: the WAL is copied back to the store by a thread, not in our commits
    service = ImportService(
        db, region, batch_size, patterns=PatternService(db, executor=pool), suppressions=SuppressionList(db)
    )
    total = ImportSummary()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False, disable=not err.is_terminal) as progress:
        for path in files:
            with ImportFile(path) as f:
                task = progress.add_task(path.name, total=f.size or 1)

                def advance(_: ImportSummary, f: ImportFile = f, task: TaskID = task) -> None:
                    progress.update(task, completed=f.position)

                summary = await service.import_records(
                    parse_file_in(pool, f, region), source=source or path.name, on_batch=advance
                )
                progress.update(task, completed=f.size or 1)
            total.add(summary)
    return total


@app.command("enrich")
def enrich_cmd(
    source: Annotated[Path, typer.Argument(help="A CSV of leads", exists=True, dir_okay=False, readable=True)],
    server: Annotated[str, typer.Option(help="The server's base URL: a leadsmith, or Kaspr's")],
    key: Annotated[str, typer.Option(help="Its API key", envvar="LEADSMITH_ENRICH_KEY")],
    output: Annotated[Path, typer.Option(help="Where the enriched CSV goes")],
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Rows asked at once")] = 4,
) -> None:
    """Enrich a CSV through any server that speaks the Kaspr API: a LinkedIn URL or slug and a name per row
    (its profile), or a name and a domain (the e-mail finder). Paced by the server's rate-limit headers,
    retried on 429, timeouts and 5xx, resumable: run it again with the same arguments after it stops
    (even killed), and it goes on where it stopped without asking for a row twice."""
    from leadsmith.enrich import EnrichError, enrich

    columns = (TextColumn("enriching"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=err, disable=not err.is_terminal) as bar:
        task = bar.add_task("rows", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            summary = asyncio.run(enrich(source, output, server, key, concurrency, advance))
        except EnrichError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
    counts = summary.counts
    table = Table(title="enrich summary", show_header=False)
    for label, value in (
        ("rows", summary.rows),
        ("asked this run", summary.asked),
        ("found", counts["found"]),
        ("not found", counts["not_found"]),
        ("invalid rows", counts["invalid"]),
        ("out of credits", counts["insufficient_credits"]),
        ("errors", counts["error"]),
        ("credits spent", summary.credits),
        ("seconds waiting for the rate limit", f"{summary.waited:.1f}"),  # summed over the calls in flight
    ):
        table.add_row(label, str(value))
    out.print(table)
    if sum(counts.values()) == summary.rows:
        out.print(f"written to {output}")
    else:
        err.print("[yellow]not finished:[/yellow] run the same command again to go on")
        raise typer.Exit(1)


_STATUS_STYLE = {"valid": "green", "invalid": "red", "accept_all": "yellow", "unknown": "dim"}


@app.command("verify")
def verify_cmd(
    addresses: Annotated[list[str] | None, typer.Argument(help="Addresses to verify")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="A file of addresses, one per line", exists=True, dir_okay=False),
    ] = None,
    stored: Annotated[
        bool, typer.Option("--stored", help="Re-verify stored and predicted addresses never verified or too old")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per address and line")] = False,
    server: Annotated[
        str | None, typer.Option(help="Verify through this leadsmith server's /email/verify instead of here")
    ] = None,
    key: Annotated[str | None, typer.Option(help="The server's API key", envvar="LEADSMITH_ENRICH_KEY")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="With --server: addresses asked at once")] = 4,
) -> None:
    """Verify addresses (syntax, DNS, SMTP, catch-all) and store the results; or, with --server and --key,
    ask a leadsmith server (paced by its rate-limit headers, retried on 429 and 5xx)."""
    emails = list(addresses or [])
    if file is not None:
        emails += [line.strip() for line in file.read_text(encoding="utf-8", errors="replace").splitlines()]
        emails = [e for e in emails if e and not e.startswith("#")]
    if not emails and not stored:
        err.print("[red]error:[/red] give addresses, --file FILE or --stored")
        raise typer.Exit(2)
    if server is not None:
        if key is None:
            err.print("[red]error:[/red] --server needs --key (or LEADSMITH_ENRICH_KEY)")
            raise typer.Exit(2)
        _print_verdicts(asyncio.run(_verify_remotely(server, key, emails, concurrency)), as_json)
        return
    settings = _settings()

    bounced: set[str] = set()  # domains where a predicted address bounced: their people predicted again

    async def body(db: Database) -> tuple[list[dict[str, object]], int]:
        service = VerificationService(db, Verifier.from_settings(settings), settings, on_bounced=bounced.update)
        try:
            return await verify(service)
        finally:
            if bounced:
                await PatternService(db).refresh(bounced)

    async def verify(service: VerificationService) -> tuple[list[dict[str, object]], int]:
        columns = (
            TextColumn("verifying"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err, transient=False, disable=not err.is_terminal) as progress:
            if stored:
                due = await service.count_due()
                task = progress.add_task("stored", total=due or 1)
                done = await service.verify_due(progress=lambda n: progress.advance(task, n))
                return [], done
            task = progress.add_task("addresses", total=len(emails))
            results = await service.verify_many(emails, progress=lambda n: progress.advance(task, n))
        return [r.as_dict() for r in results], len(results)

    results, count = _run(settings, body)
    if stored:
        out.print(f"re-verified {count} stored addresses")
        if bounced:
            out.print(f"predicted again at {len(bounced)} domain(s) where a predicted address bounced")
        return
    _print_verdicts(results, as_json)


async def _verify_remotely(server: str, key: str, emails: list[str], concurrency: int) -> list[dict[str, object]]:
    from leadsmith.client import Client

    gate = asyncio.Semaphore(concurrency)
    async with Client(server, key) as client:

        async def one(email: str) -> dict[str, object]:
            async with gate:
                answer = await client.verify(email)
            if answer.ok and isinstance(answer.body, dict):
                return dict(answer.body)
            return {"email": email, "status": "error", "valid": None, "score": 0, "reasons": {"error": answer.message}}

        return list(await asyncio.gather(*(one(e) for e in emails)))


def _print_verdicts(results: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        for r in results:
            print(orjson.dumps(r).decode())
        return
    table = Table("email", "status", "valid", "score", "why")
    for r in results:
        reasons = r["reasons"]
        assert isinstance(reasons, dict)
        smtp = reasons.get("smtp") or {}
        why = smtp.get("message") or smtp.get("error") or reasons.get("dns") or reasons.get("syntax") or ""
        style = _STATUS_STYLE.get(str(r["status"]), "")
        table.add_row(
            str(r["email"]),
            f"[{style}]{r['status']}[/]" if style else str(r["status"]),
            str(r["valid"]).lower(),
            str(r["score"]),
            str(why)[:60],
        )
    out.print(table)


def _load_demo(settings: Settings) -> None:
    async def body(db: Database) -> str:
        importer = ImportService(
            db, settings.default_phone_region, patterns=PatternService(db), suppressions=SuppressionList(db)
        )
        summary = await importer.import_records(demo_records(), source="demo")
        access = AccessService(db, settings)
        async with db.transaction() as tx:
            account = await access_repository.account_by_email(tx, DEMO_ACCOUNT)
            if account is None:
                account = await access.create_account(tx, DEMO_ACCOUNT, credits_=1000)
            for key in await access.keys_of(tx, account.id):
                if key.name == "demo" and key.revoked_at is None:
                    await access.revoke_key(tx, account.id, str(key.id))
            created = await access.create_key(tx, account.id, "demo")
        out.print(
            f"demo data: {summary.people_created} people created, {summary.rows - summary.people_created} already there"
        )
        out.print(f"demo account {DEMO_ACCOUNT}: {account.credits} credits; earlier demo keys revoked")
        return created.key

    key = _run(settings, body)
    out.print("demo API key (shown once):")
    out.print(key, highlight=False, soft_wrap=True)


@app.command()
def demo() -> None:
    """Load the synthetic demo set (the reference's examples included) and print a fresh demo API key."""
    _load_demo(_settings())


PoolOption = Annotated[
    int | None, typer.Option(min=-1, help="A pool of this kind's credits (-1: unlimited; none: the general balance)")
]
LimitOption = Annotated[int | None, typer.Option(min=1)]
_POOL_OPTIONS: tuple[PoolKind, ...] = ("work_email", "direct_email", "phone", "export")


async def _pools_and_limits(
    tx: Executor, account_id: int, pools: dict[PoolKind, int | None], limits: dict[str, int | None], now: int
) -> None:
    for kind, value in pools.items():
        if value is not None:
            await credit_rules.set_pool(tx, account_id, kind, value, now=now)
    changed = {k: v for k, v in limits.items() if v is not None}
    if changed:
        await access_repository.update_account(tx, account_id, changed)


@accounts_app.command("create")
def accounts_create(
    email: str,
    credits: Annotated[
        int | None, typer.Option(min=0, help="Starting credits (default LEADSMITH_SIGNUP_CREDITS)")
    ] = None,
    rate_limit: Annotated[
        int | None, typer.Option(min=1, help="Requests per hour per key (default LEADSMITH_RATE_LIMIT_PER_HOUR)")
    ] = None,
    daily_limit: Annotated[int | None, typer.Option(min=1, help="Requests per day per key (default: none)")] = None,
    minutely_limit: Annotated[
        int | None, typer.Option(min=1, help="Requests per minute per key (default: none)")
    ] = None,
    work_email_credits: PoolOption = None,
    direct_email_credits: PoolOption = None,
    phone_credits: PoolOption = None,
    export_credits: PoolOption = None,
    key_name: Annotated[str, typer.Option(help="Name of the first key")] = "default",
    cost_email: Annotated[int | None, typer.Option(min=0, help="Price of an e-mail reveal for this account")] = None,
    cost_phone: Annotated[int | None, typer.Option(min=0, help="Price of a phone reveal for this account")] = None,
    cost_employee: Annotated[int | None, typer.Option(min=0, help="Price of an employee returned")] = None,
) -> None:
    """Create an account and its first API key; the key is printed as the last line.

    Kaspr v2's credits per kind: --work-email-credits, --direct-email-credits, --phone-credits and
    --export-credits give the account a pool of that kind (-1: unlimited); a kind without a pool draws
    on the general balance (--credits) at the account's price."""
    settings = _settings()
    prices = {"cost_email": cost_email, "cost_phone": cost_phone, "cost_employee": cost_employee}
    pools: dict[PoolKind, int | None] = {
        "work_email": work_email_credits,
        "direct_email": direct_email_credits,
        "phone": phone_credits,
        "export": export_credits,
    }

    async def body(db: Database) -> tuple[int, str]:
        access = AccessService(db, settings)
        async with db.transaction() as tx:
            account = await access.create_account(tx, email, credits_=credits, rate_limit=rate_limit)
            if any(v is not None for v in prices.values()):
                await access_repository.update_account(
                    tx, account.id, {k: v for k, v in prices.items() if v is not None}
                )
            limits = {"daily_limit": daily_limit, "minutely_limit": minutely_limit}
            await _pools_and_limits(tx, account.id, pools, limits, access.clock())
            created = await access.create_key(tx, account.id, key_name)
        return account.credits, created.key

    balance, key = _run(settings, body)
    out.print(f"account {email} created with {balance} credits; its API key (shown once):")
    out.print(key, highlight=False, soft_wrap=True)


@accounts_app.command("update")
def accounts_update(
    email: str,
    rate_limit: Annotated[int | None, typer.Option(min=1, help="Requests per hour per key")] = None,
    daily_limit: Annotated[int | None, typer.Option(min=1, help="Requests per day per key")] = None,
    minutely_limit: Annotated[int | None, typer.Option(min=1, help="Requests per minute per key")] = None,
    work_email_credits: PoolOption = None,
    direct_email_credits: PoolOption = None,
    phone_credits: PoolOption = None,
    export_credits: PoolOption = None,
    disabled: Annotated[
        bool | None, typer.Option("--disabled/--enabled", help="Refuse (or accept again) the account's keys")
    ] = None,
) -> None:
    """Change an account's limits, set its pools of credits per kind (-1: unlimited; the ledger records
    the change), or disable it. Only the options given change."""
    settings = _settings()
    pools: dict[PoolKind, int | None] = {
        "work_email": work_email_credits,
        "direct_email": direct_email_credits,
        "phone": phone_credits,
        "export": export_credits,
    }

    async def body(db: Database) -> str:
        access = AccessService(db, settings)
        async with db.transaction() as tx:
            account = await access.account(tx, email)
            limits: dict[str, int | None] = {
                "rate_limit": rate_limit,
                "daily_limit": daily_limit,
                "minutely_limit": minutely_limit,
            }
            if disabled is not None:
                await access_repository.update_account(tx, account.id, {"disabled": disabled})
            await _pools_and_limits(tx, account.id, pools, limits, access.clock())
            after = await access.account(tx, email)
        access.forget()
        return _describe_account(after, settings)

    out.print(_run(settings, body))


def _describe_account(a: Account, settings: Settings) -> str:
    windows = [f"{a.rate_limit or settings.rate_limit_per_hour}/hour"]
    if a.minutely_limit:
        windows.insert(0, f"{a.minutely_limit}/minute")
    if a.daily_limit:
        windows.append(f"{a.daily_limit}/day")
    pools = ", ".join(
        f"{KIND_NAMES[k]} {'unlimited' if v == -1 else v}" for k in _POOL_OPTIONS if (v := a.pools.pool(k)) is not None
    )
    state = " (disabled)" if a.disabled else ""
    return f"{a.email}{state}: {a.credits} credits{'; ' + pools if pools else ''}; per key {', '.join(windows)}"


@accounts_app.command("webhook-secret")
def accounts_webhook_secret(email: str) -> None:
    """The secret that signs the account's bulk job callbacks (Leadsmith-Signature); printed as the last line."""
    settings = _settings()

    async def body(db: Database) -> str:
        account = await AccessService(db, settings).account(db, email)
        return webhook_secret(await installation_secret(db), account.id)

    secret = _run(settings, body)
    out.print(f'{email}: callbacks are signed with HMAC-SHA256 of "<t>.<body>" under this secret:')
    out.print(secret, highlight=False, soft_wrap=True)


@accounts_app.command("list")
def accounts_list() -> None:
    """List accounts with their balances and limits."""
    settings = _settings()
    rows = _run(settings, access_repository.list_accounts)
    table = Table("id", "email", "credits", "rate limit / h", "disabled")
    for a in rows:
        table.add_row(
            str(a.id),
            a.email,
            str(a.credits),
            str(a.rate_limit or settings.rate_limit_per_hour),
            "yes" if a.disabled else "",
        )
    out.print(table)


@keys_app.command("create")
def keys_create(
    email: str, name: Annotated[str, typer.Option(help="A name to recognise the key by")] = "default"
) -> None:
    """Create another key for an account; the key is printed as the last line."""
    settings = _settings()

    async def body(db: Database) -> str:
        access = AccessService(db, settings)
        async with db.transaction() as tx:
            account = await access.account(tx, email)
            return (await access.create_key(tx, account.id, name)).key

    key = _run(settings, body)
    out.print(f"new key for {email} (shown once):")
    out.print(key, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(email: str) -> None:
    """List an account's keys (prefix, name, created, last used, revoked)."""
    settings = _settings()

    async def body(db: Database) -> list[tuple[str, ...]]:
        access = AccessService(db, settings)
        account = await access.account(db, email)
        return [
            (str(k.id), k.prefix + "…", k.name, _when(k.created_at), _when(k.last_used_at), _when(k.revoked_at))
            for k in await access.keys_of(db, account.id)
        ]

    table = Table("id", "prefix", "name", "created", "last used", "revoked")
    for row in _run(settings, body):
        table.add_row(*row)
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    email: str,
    key: Annotated[str, typer.Argument(help="The key's id or its 12-character prefix, as keys list shows it")],
) -> None:
    """Revoke a key: the API refuses it within LEADSMITH_AUTH_CACHE_SECONDS."""
    settings = _settings()

    async def body(db: Database) -> str:
        access = AccessService(db, settings)
        async with db.transaction() as tx:
            account = await access.account(tx, email)
            return (await access.revoke_key(tx, account.id, key)).prefix

    out.print(f"revoked {_run(settings, body)}…")


_KINDS: dict[str, PoolKind] = {
    "work-email": "work_email",
    "direct-email": "direct_email",
    "phone": "phone",
    "export": "export",
}


# ignore_unknown_options: a negative amount ("-5") is the amount, not an option.
@credits_app.command("grant", context_settings={"ignore_unknown_options": True})
def credits_grant(
    email: str,
    amount: Annotated[int, typer.Argument(help="Credits to add (negative to take back)")],
    kind: Annotated[
        str | None,
        typer.Option(help="A pool to add to: work-email, direct-email, phone or export (default: the general balance)"),
    ] = None,
    reason: str = "grant",
) -> None:
    """Add credits to an account (recorded in its ledger); a negative amount takes credits back."""
    settings = _settings()
    if kind is not None and kind not in _KINDS:
        err.print(f"[red]error:[/red] --kind must be one of {', '.join(_KINDS)}, not {kind!r}")
        raise typer.Exit(2)
    pool = _KINDS[kind] if kind is not None else None

    async def body(db: Database) -> int:
        access = AccessService(db, settings)
        async with db.transaction() as tx:
            account = await access.account(tx, email)
            return await credit_rules.grant(
                tx,
                account.id,
                amount,
                reason=reason,
                now=access.clock(),
                kind=pool,
            )

    which = "balance" if pool is None else f"{KIND_NAMES[pool]} credits"
    out.print(f"{email}: {which} now {_run(settings, body)}")


@credits_app.command("show")
def credits_show(email: str, last: Annotated[int, typer.Option(help="Ledger rows to show")] = 20) -> None:
    """An account's balance and latest ledger rows."""
    settings = _settings()

    async def body(db: Database) -> tuple[Account, list[tuple[str, ...]]]:
        account = await AccessService(db, settings).account(db, email)
        rows = await metering_repository.ledger_of(db, account.id, last)
        return account, [
            (
                _when(r.created_at),
                (r.pool or "general").replace("_", "-"),
                f"{r.delta:+d}",
                "unlimited" if r.balance_after == -1 else str(r.balance_after),
                r.reason,
                r.endpoint or "",
            )
            for r in rows
        ]

    account, rows = _run(settings, body)
    out.print(f"{email}: {account.credits} credits")
    for k in _POOL_OPTIONS:
        value = account.pools.pool(k)
        if value is not None:
            out.print(f"{KIND_NAMES[k]} credits: {'unlimited' if value == -1 else value}")
    table = Table("at", "credits", "delta", "balance", "reason", "endpoint")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _providers(settings: Settings) -> list[ProviderConfig]:
    if settings.providers_file is None:
        err.print("[red]error:[/red] no providers: set LEADSMITH_PROVIDERS_FILE to a TOML file of [[providers]] tables")
        raise typer.Exit(2)
    try:
        return load_providers(settings.providers_file)
    except ProvidersFileError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@providers_app.command("list")
def providers_list() -> None:
    """The providers in the waterfall's order, with what they are asked for and whether their key is set."""
    settings = _settings()
    table = Table("#", "name", "kind", "base URL", "look-ups", "budget / month", "timeout", "key", "enabled")
    for n, c in enumerate(_providers(settings), start=1):
        offered = lookups_of(build_provider(c, "-")) if c.kind in provider_kinds() else frozenset()
        asked = [lk for lk in LOOKUPS if lk in offered and (c.lookups is None or lk in c.lookups)]
        table.add_row(
            str(n),
            c.name,
            c.kind + (f" ({c.api_version})" if c.kind == "kaspr" else ""),
            c.base_url,
            ", ".join(asked) or "none",
            "-" if c.monthly_budget is None else f"{c.monthly_budget:g}",
            f"{c.timeout_seconds:g} s",
            f"{c.api_key_env} set" if c.api_key() else f"[red]{c.api_key_env} not set[/red]",
            "yes" if c.enabled else "no",
        )
    out.print(table)


@providers_app.command("check")
def providers_check() -> None:
    """Make each provider's cheapest authenticated call and say what works (a wrong key is said here)."""
    settings = _settings()
    configs = _providers(settings)

    async def check_all() -> list[tuple[str, bool, str]]:
        results = []
        for c in configs:
            key = c.api_key()
            if key is None:
                results.append((c.name, False, f"{c.api_key_env} is not set in the environment"))
                continue
            provider = build_provider(c, key)
            try:
                async with asyncio.timeout(c.timeout_seconds):
                    results.append((c.name, True, await provider.check()))
            except ProviderError as exc:
                results.append((c.name, False, exc.message))
            except TimeoutError:
                results.append((c.name, False, f"no answer within {c.timeout_seconds:g} s"))
            finally:
                await provider.close()
        return results

    results = asyncio.run(check_all())
    for name, ok, said in results:
        mark = "[green]ok[/green]" if ok else "[red]failed[/red]"
        out.print(f"{name}: {mark} {said}", highlight=False, soft_wrap=True)
    if not all(ok for _, ok, _ in results):
        raise typer.Exit(1)


@providers_app.command("usage")
def providers_usage(months: Annotated[int, typer.Option(min=1, help="How many months back")] = 3) -> None:
    """Calls, hits, misses, errors and units spent per provider and month."""
    settings = _settings()
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    starts = []
    year, month = now.year, now.month
    for _ in range(months):
        starts.append(dt.datetime(year, month, 1, tzinfo=dt.UTC))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)

    async def body(db: Database) -> list[tuple[str, list[tuple[str, str, int, float, int]]]]:
        found = []
        for n, start in enumerate(starts):
            until = int(starts[n - 1].timestamp() * 1000) if n else None
            rows = await provider_repository.usage(db, int(start.timestamp() * 1000), until=until)
            found.append((start.strftime("%Y-%m"), rows))
        return found

    table = Table("month", "provider", "calls", "hits", "misses", "errors", "units")
    for label, rows in _run(settings, body):
        by: dict[str, dict[str, float]] = {}
        for provider, outcome, calls, units, _ in rows:
            entry = by.setdefault(provider, {"hit": 0, "miss": 0, "error": 0, "units": 0.0})
            entry[outcome] = entry.get(outcome, 0) + calls
            entry["units"] += units
        for provider, e in sorted(by.items()):
            calls = int(e["hit"] + e["miss"] + e["error"])
            if calls:
                table.add_row(
                    label,
                    provider,
                    str(calls),
                    str(int(e["hit"])),
                    str(int(e["miss"])),
                    str(int(e["error"])),
                    f"{e['units']:g}",
                )
    out.print(table)


# --- privacy


def _privacy(db: Database, settings: Settings) -> PrivacyService:
    return PrivacyService(
        db, settings, SuppressionList(db), RevealLog(db, settings.audit_retention_days), patterns=PatternService(db)
    )


def _identities(settings: Settings, texts: list[str]) -> list[Identity]:
    out = []
    for text in texts:
        try:
            out.append(parse_identity(text, settings.default_phone_region))
        except NotAnIdentity as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
    return out


IdentArg = Annotated[
    list[str],
    typer.Argument(
        help="E-mail addresses, LinkedIn URLs or ids, phone numbers (any format the import accepts), or @domain",
        show_default=False,
    ),
]


@privacy_app.command("suppress")
def privacy_suppress(identities: IdentArg) -> None:
    """Opt people out: they are never served, imported, predicted or asked about upstream again (a running
    server follows within a second). Only keyed hashes are stored."""
    settings = _settings()
    found = _identities(settings, identities)

    async def body(db: Database) -> int:
        return await _privacy(db, settings).suppress(found, origin="cli")

    added = _run(settings, body)
    out.print(f"suppressed {added} new identit{'y' if added == 1 else 'ies'} ({len(found) - added} already were)")


@privacy_app.command("unsuppress")
def privacy_unsuppress(identities: IdentArg) -> None:
    """Lift opt-outs (what was erased stays erased)."""
    settings = _settings()
    found = _identities(settings, identities)

    async def body(db: Database) -> int:
        return await _privacy(db, settings).unsuppress(found)

    removed = _run(settings, body)
    out.print(f"removed {removed} identit{'y' if removed == 1 else 'ies'} from the suppression list")


@privacy_app.command("list")
def privacy_list(
    kind: Annotated[str | None, typer.Option(help="Only this kind: email, linkedin, phone or domain")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document")] = False,
) -> None:
    """The suppression list: keyed hashes, their kind, origin and date (it names nobody: to ask about someone,
    `privacy export` them)."""
    settings = _settings()
    if kind is not None and kind not in ("email", "linkedin", "phone", "domain"):
        err.print("[red]error:[/red] --kind: one of email, linkedin, phone, domain")
        raise typer.Exit(2)

    async def body(db: Database) -> list[dict[str, object]]:
        return await _privacy(db, settings).suppressed(kind)

    rows = _run(settings, body)
    if as_json:
        out.print_json(orjson.dumps({"total": len(rows), "suppressions": rows}).decode())
        return
    table = Table(title=f"suppression list: {len(rows)}")
    for column in ("hash", "kind", "origin", "since"):
        table.add_column(column)
    for r in rows:
        table.add_row(str(r["hash"])[:16] + "...", str(r["kind"]), str(r["origin"]), str(r["createdAt"]))
    out.print(table)


@privacy_app.command("erase")
def privacy_erase(
    identity: Annotated[str, typer.Argument(help="An e-mail address, LinkedIn URL or id, phone number, or @domain")],
    vacuum_full: Annotated[
        bool,
        typer.Option(
            "--vacuum-full",
            help="Also rewrite the affected tables (PostgreSQL: VACUUM FULL, an exclusive lock) or the whole file "
            "(SQLite: VACUUM)",
        ),
    ] = False,
) -> None:
    """Erase a person and everything derived from or about them, then suppress them."""
    settings = _settings()
    (found,) = _identities(settings, [identity])

    async def body(db: Database) -> dict[str, object]:
        return (await _privacy(db, settings).erase(found, full=vacuum_full, origin="cli")).as_dict()

    with err.status("erasing (suppressed first; other workers are given two seconds to follow)"):
        done = _run(settings, body)
    out.print_json(orjson.dumps(done).decode())


@privacy_app.command("export")
def privacy_export(
    identity: Annotated[str, typer.Argument(help="An e-mail address, LinkedIn URL or id, phone number, or @domain")],
) -> None:
    """Print one JSON document: everything stored about the person (with sources and dates) and the reveal
    log (which accounts received what, when)."""
    settings = _settings()
    (found,) = _identities(settings, [identity])

    async def body(db: Database) -> dict[str, object]:
        return await _privacy(db, settings).export(found)

    sys.stdout.write(orjson.dumps(_run(settings, body), option=orjson.OPT_INDENT_2).decode() + "\n")


@privacy_app.command("requests")
def privacy_requests(
    approve: Annotated[int | None, typer.Option(help="Carry out this request: erase and suppress")] = None,
    reject: Annotated[int | None, typer.Option(help="Turn this request down")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Done and rejected requests too")] = False,
) -> None:
    """Removal requests from the portal's Remove my data page: list them, approve or reject one."""
    settings = _settings()

    async def body(db: Database) -> object:
        privacy = _privacy(db, settings)
        if approve is not None:
            return (await privacy.approve(approve)).as_dict()
        if reject is not None:
            await privacy.reject(reject)
            return {"id": reject, "state": "rejected"}
        return await privacy.requests(None if show_all else ("pending", "mailed"))

    result = _run(settings, body)
    if isinstance(result, dict):
        out.print_json(orjson.dumps(result).decode())
        return
    assert isinstance(result, list)
    table = Table(title=f"removal requests: {len(result)}")
    for column in ("id", "kind", "identity", "state", "made"):
        table.add_column(column)
    for r in result:
        table.add_row(str(r["id"]), r["kind"], r["identity"] or "(erased)", r["state"], str(r["createdAt"]))
    out.print(table)


@admin_token_app.command("create")
def admin_token_create(name: Annotated[str, typer.Argument(help="Who or what the token is for")]) -> None:
    """Make an admin token for the admin API (/admin/*); it is shown once."""
    settings = _settings()

    async def body(db: Database) -> tuple[str, str]:
        return await AdminService(db).create(name)

    try:
        token, _ = _run(settings, body)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    out.print("admin token (shown once; send it as Authorization: Bearer ...):")
    out.print(token, highlight=False, soft_wrap=True)


@admin_token_app.command("list")
def admin_token_list() -> None:
    settings = _settings()

    async def body(db: Database) -> list[dict[str, object]]:
        return await AdminService(db).tokens()

    table = Table(title="admin tokens")
    for column in ("prefix", "name", "created", "last used", "revoked"):
        table.add_column(column)
    for t in _run(settings, body):
        table.add_row(
            str(t["prefix"]),
            str(t["name"]),
            _when(t["created_at"]),  # type: ignore[arg-type]
            _when(t["last_used_at"]),  # type: ignore[arg-type]
            _when(t["revoked_at"]),  # type: ignore[arg-type]
        )
    out.print(table)


@admin_token_app.command("revoke")
def admin_token_revoke(
    prefix: Annotated[str, typer.Argument(help="The token's prefix (lsa_ and 8 characters)")],
) -> None:
    settings = _settings()

    async def body(db: Database) -> None:
        await AdminService(db).revoke(prefix)

    _run(settings, body)
    out.print(f"revoked {prefix}")


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
