"""``leadsmith enrich``: a CSV of leads through any server that speaks the Kaspr API, resumable.

The input's columns are found as the import finds them: a LinkedIn URL or slug and a name (the lead's
profile, ``/profile/linkedin``), or a name and a domain (``/company/emailFinder``). The output is the
input's columns and email, emails, phone, phones, title, company, status.

Resumable: each row's fate goes to a journal beside the output (``OUT.csv.journal``, one JSON line per
event, flushed as it is written) before and after it is asked. Run again with the same arguments, rows
already answered are not asked again, and a row that was being asked when the client died is asked
again with the same Idempotency-Key, so a leadsmith server answers it from the first call, free. The
output is written, in the input's order, once every row is answered.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from leadsmith.client import Client, ClientAnswer, ClientError
from leadsmith.contacts.records import canonical_column

Mode = Literal["profile", "finder"]
OUT_COLUMNS = ("email", "emails", "phone", "phones", "title", "company", "status")


class EnrichError(ValueError):
    """The input cannot be enriched as it is (no columns to go by); the message says what is needed."""


@dataclass(frozen=True, slots=True)
class Plan:
    mode: Mode
    linkedin: str | None = None
    name: str | None = None
    first: str | None = None
    last: str | None = None
    domain: str | None = None


def plan_of(header: list[str]) -> Plan:
    """Which columns to ask by: a LinkedIn profile and a name, else a name and a domain."""
    found: dict[str, str] = {}
    for column in header:
        canonical = canonical_column(column)
        if canonical and canonical not in found:
            found[canonical] = column
    name, first, last = found.get("name"), found.get("first_name"), found.get("last_name")
    if "linkedin" in found:
        return Plan("profile", linkedin=found["linkedin"], name=name, first=first, last=last)
    if (name or (first and last)) and "domain" in found:
        return Plan("finder", name=name, first=first, last=last, domain=found["domain"])
    raise EnrichError(
        f"no columns to ask by among {', '.join(header) or 'none'}: give a LinkedIn URL or slug (and a name), "
        "or a name (or first and last names) and a company domain"
    )


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t|", key=first.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    return list(reader.fieldnames or []), rows


@dataclass
class Summary:
    rows: int = 0
    asked: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    credits: int = 0
    waited: float = 0.0  # seconds calls spent held for a spent window, summed over the calls in flight


class Journal:
    """What happened to each row so far: a JSON line per event, appended and flushed as they happen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.results: dict[int, dict[str, Any]] = {}
        self.asking: set[int] = set()
        if path.exists():
            for line in path.read_bytes().splitlines():
                try:
                    event = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # the last line, cut short when the client died
                if "result" in event:
                    self.results[event["i"]] = event["result"]
                    self.asking.discard(event["i"])
                else:
                    self.asking.add(event["i"])
        self._file = path.open("ab")

    def note(self, event: dict[str, Any]) -> None:
        self._file.write(orjson.dumps(event) + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _key(server: str, source: Path, index: int, row: dict[str, str]) -> str:
    """The same row of the same file through the same server: the same Idempotency-Key, run after run."""
    seed = orjson.dumps([server, str(source.resolve()), index, row], option=orjson.OPT_SORT_KEYS)
    return "enrich-" + hashlib.sha256(seed).hexdigest()[:40]


def _name(plan: Plan, row: dict[str, str]) -> str:
    if plan.name and row.get(plan.name, "").strip():
        return row[plan.name].strip()
    return " ".join(x for x in (row.get(plan.first or "", ""), row.get(plan.last or "", "")) if x).strip()


def result_of(mode: Mode, answer: ClientAnswer) -> dict[str, Any]:
    """A row's output columns from the server's answer."""
    if answer.status == 404 or (answer.ok and mode == "profile" and not _profile_found(answer.body)):
        return {"status": "not_found"}
    if answer.status == 402:
        return {"status": "insufficient_credits", "error": answer.message}
    if answer.status == 400:
        return {"status": "invalid", "error": answer.message}
    if not answer.ok:
        return {"status": "error", "error": answer.message}
    if mode == "profile":
        p = answer.body["profile"]
        emails = list(dict.fromkeys(_list(p, "workEmails", "professionalEmails", "currentProEmails")
                                    + _list(p, "directEmails", "personalEmails", "currentPersonalEmails")))  # fmt: skip
        phones = _list(p, "phones")
        return {
            "email": p.get("starryWorkEmail") or p.get("currentProEmail") or (emails[0] if emails else ""),
            "emails": ";".join(emails),
            "phone": phones[0] if phones else "",
            "phones": ";".join(phones),
            "title": p.get("title") or "",
            "company": p.get("companyName") or "",
            "status": "found" if emails or phones else "not_found",
            "credits": answer.credits_spent,
        }
    found = answer.body.get("emails") or []
    return {
        "email": found[0]["email"] if found else "",
        "emails": ";".join(e["email"] for e in found),
        "status": "found" if found else "not_found",
        "credits": answer.credits_spent,
    }


def _profile_found(body: Any) -> bool:
    p = body.get("profile") if isinstance(body, dict) else None
    return isinstance(p, dict) and p.get("fetchedAt") is not None


def _list(p: dict[str, Any], *names: str) -> list[str]:
    for name in names:
        if isinstance(p.get(name), list) and p[name]:
            return [str(x) for x in p[name]]
    return []


async def enrich(
    source: Path,
    output: Path,
    server: str,
    key: str,
    concurrency: int = 4,
    progress: Callable[[int, int], None] | None = None,
    client: Client | None = None,
) -> Summary:
    """Enrich ``source`` into ``output`` (see the module's docstring); the summary of this run and the
    earlier ones it continues."""
    header, rows = read_rows(source)
    plan = plan_of(header)
    journal = Journal(output.with_name(output.name + ".journal"))
    summary = Summary(rows=len(rows))
    done = len(journal.results)
    if progress:
        progress(done, len(rows))
    owned = client is None
    kaspr = client or Client(server, key)
    todo = [i for i in range(len(rows)) if i not in journal.results]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in todo:
        queue.put_nowait(i)

    async def worker() -> None:
        nonlocal done
        while not queue.empty():
            i = queue.get_nowait()
            row = rows[i]
            if i not in journal.asking:
                journal.note({"i": i})
            try:
                answer = await _ask(kaspr, plan, row, _key(server, source, i, row))
                result = result_of(plan.mode, answer) if answer is not None else {"status": "invalid"}
            except ClientError as exc:
                result = {"status": "error", "error": str(exc)}
            journal.note({"i": i, "result": result})
            journal.results[i] = result
            summary.asked += 1
            done += 1
            if progress:
                progress(done, len(rows))

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
        summary.waited = kaspr.waited
    finally:
        journal.close()
        if owned:
            await kaspr.close()
    for result in journal.results.values():
        summary.counts[str(result.get("status"))] += 1
        summary.credits += int(result.get("credits", 0) or 0)
    if len(journal.results) == len(rows):
        _write(output, header, rows, journal.results)
        journal.path.unlink()
    return summary


async def _ask(kaspr: Client, plan: Plan, row: dict[str, str], key: str) -> ClientAnswer | None:
    name = _name(plan, row)
    if plan.mode == "profile":
        linkedin = row.get(plan.linkedin or "", "").strip()
        if not linkedin:
            return None
        return await kaspr.linkedin(linkedin, name or None, idempotency_key=key)
    domain = row.get(plan.domain or "", "").strip()
    if not domain or not name:
        return None
    first = row.get(plan.first or "", "").strip() if not plan.name else None
    last = row.get(plan.last or "", "").strip() if not plan.name else None
    return await kaspr.email_finder(domain, name=name, first=first, last=last, idempotency_key=key)


def _write(output: Path, header: list[str], rows: list[dict[str, str]], results: dict[int, dict[str, Any]]) -> None:
    columns = header + [c for c in OUT_COLUMNS if c not in header]
    temp = output.with_name(output.name + ".tmp")
    with temp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for i, row in enumerate(rows):
            writer.writerow({**row, **{c: results[i].get(c, "") for c in OUT_COLUMNS}})
    temp.replace(output)
