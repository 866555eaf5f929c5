"""Taking leads in from public forms and CSV files: spam checks, duplicates, then capture and routing.

A form post is checked against its form (lengths, emails, required fields), counted against its
address's rate limit, and dropped silently when it fills the honeypot. A post that repeats an
open lead (same email, or same person at the same company) is recorded on that lead as
LeadResubmitted; one that matches a known contact or account creates a lead linked to the account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, delete, func, insert, literal, select, union_all

from dealflow.domain import events as ev
from dealflow.domain.decisions import Actor, event
from dealflow.domain.intake import Submission, check_submission, company_key, email_domain, person_key
from dealflow.errors import Conflict, InvalidInput, NotFound, TooManyAttempts
from dealflow.imports.csvfiles import Table
from dealflow.process.lead_intake import Form, FormField
from dealflow.process.models import Process
from dealflow.services import lead_scoring
from dealflow.services import leads as sl
from dealflow.services.lookups import load_actor
from dealflow.services.recording import record_events
from dealflow.store import queries
from dealflow.store import tables as t
from dealflow.store.lead_intake import lock_lead_numbers
from dealflow.store.processes import load_process, named_or_default_process
from dealflow.store.unit_of_work import Clock, UnitOfWork

WINDOW = timedelta(minutes=1)
KEEP = timedelta(days=1)
RETRIES = 4
Outcome = Literal["created", "resubmitted", "spam"]


@dataclass(frozen=True)
class Match:
    """An existing record a new lead repeats or belongs to."""

    kind: Literal["lead", "contact", "account"]
    id: str
    account_id: str | None
    by: str  # email, name, domain, company


@dataclass(frozen=True)
class Received:
    """What became of a post: a new lead, a resubmission on an open one, or dropped as spam."""

    outcome: Outcome
    lead_id: str | None
    form: Form


def find_form(connection: Connection, key: str) -> tuple[Process, Form]:
    """The form with this key in the newest version of an installed process."""
    for row in queries.list_processes(connection):
        process = load_process(connection, key=row.key)
        form = next((f for f in process.leads.forms if f.key == key), None)
        if form is not None:
            return process, form
    raise NotFound(f"no intake form '{key}'")


def find_match(connection: Connection, *, email: str | None, name: str | None, company: str | None) -> Match | None:
    """The best existing match in one indexed query: an open lead with this email, then an open lead
    of the same person and company, then a contact with this email, then an account with the email's
    (work) domain, then an account of this company's name."""
    leads, contacts, accounts = t.leads, t.contacts, t.accounts
    person, firm, domain = person_key(name), company_key(company), email_domain(email)
    branches = []

    def branch(kind: str, by: str, rank: int, table: Any, account: Any, *where: Any) -> None:
        columns = (literal(kind).label("kind"), literal(by).label("by"), literal(rank).label("rank"))
        branches.append(select(*columns, table.c.id, account.label("account_id")).where(*where))

    if email:
        branch("lead", "email", 1, leads, leads.c.account_id, leads.c.email == email.lower(), leads.c.status == "open")
    if person and firm:
        open_lead = (leads.c.person_key == person, leads.c.company_key == firm, leads.c.status == "open")
        branch("lead", "name", 2, leads, leads.c.account_id, *open_lead)
    if email:
        branch("contact", "email", 3, contacts, contacts.c.account_id, contacts.c.email_key == email.lower())
    if domain:
        branch("account", "domain", 4, accounts, accounts.c.id, accounts.c.domain == domain)
    if firm:
        branch("account", "company", 5, accounts, accounts.c.id, accounts.c.name_key == firm)
    if not branches:
        return None
    query = union_all(*branches).subquery()
    row = connection.execute(select(query).order_by(query.c.rank, query.c.id).limit(1)).first()
    return None if row is None else Match(kind=row.kind, id=row.id, account_id=row.account_id, by=row.by)


def _attempt(connection: Connection, *, address: str, form: str, now: datetime, outcome: str) -> None:
    connection.execute(insert(t.intake_attempts), {"address": address, "form": form, "at": now, "outcome": outcome})


def check_rate(connection: Connection, *, address: str, form: str, now: datetime, per_minute: int) -> None:
    """Refuse (429) a post when its address posted ``per_minute`` times in the last minute (0: no limit)."""
    attempts = t.intake_attempts
    connection.execute(delete(attempts).where(attempts.c.at < now - KEEP))  # by its index: nothing, mostly
    if per_minute <= 0:
        return
    recent = select(func.count(), func.min(attempts.c.at)).where(
        attempts.c.address == address, attempts.c.at > now - WINDOW
    )
    count, oldest = connection.execute(recent).one()
    if count >= per_minute:
        wait = max(1, int((oldest + WINDOW - now).total_seconds()) + 1)
        raise TooManyAttempts(
            f"too many posts from your address: at most {per_minute} a minute; try again in {wait} s",
            retry_after=wait,
        )


def form_actor(form: Form) -> Actor:
    """Who the events of a public form's post are recorded as."""
    return Actor(id=f"form:{form.key}", roles=())


def take(
    uow: UnitOfWork, *, process: Process, form: Form, submission: Submission, actor: Actor, found: Match | None
) -> Received:
    """Record a checked post, given its best match: a resubmission on the open lead it repeats, or
    a new (routed) lead, linked to the matched account. Commits the unit of work."""
    if found is not None and found.kind == "lead":
        data = {"name": submission.name, "email": submission.email, "company": submission.company}
        resubmitted = event(
            ev.LEAD_RESUBMITTED, f"lead:{found.id}", actor, uow.clock(),
            form=form.key, matched_by=found.by, fields={**submission.fields, **{k: v for k, v in data.items() if v}},
        )  # fmt: skip
        record_events(uow, [resubmitted])
        lead_scoring.rescore(uow, lead_id=found.id, actor=actor, process=process)  # asked again: more intent
        uow.commit()
        return Received("resubmitted", found.id, form)
    lead_id = sl.capture_lead(
        uow=uow, actor_id=actor.id, actor=actor, name=submission.name, company=submission.company,
        email=submission.email, source=form.source, process_key=process.key, form=form.key,
        fields=submission.fields, account_id=found.account_id if found else None, route=True,
    )  # fmt: skip
    return Received("created", lead_id, form)


def submit(
    engine: Engine, clock: Clock, *, form_key: str, values: Mapping[str, Any], address: str, per_minute: int
) -> Received:
    """Take one post to a public form from ``address``, in one transaction (retried when a
    concurrent post took the same lead number): rate limit, checks, honeypot, dedupe, capture."""
    address = (address or "unknown")[:64]
    for attempt in range(RETRIES):
        try:
            with UnitOfWork(engine, clock=clock) as uow:
                now = uow.clock()
                process, form = find_form(uow.connection, form_key)
                try:
                    check_rate(uow.connection, address=address, form=form.key, now=now, per_minute=per_minute)
                    submission = check_submission(form, values)
                except (TooManyAttempts, InvalidInput) as exc:
                    outcome = "limited" if isinstance(exc, TooManyAttempts) else "rejected"
                    _attempt(uow.connection, address=address, form=form.key, now=now, outcome=outcome)
                    uow.commit()
                    raise
                if submission.spam:
                    _attempt(uow.connection, address=address, form=form.key, now=now, outcome="spam")
                    uow.commit()
                    return Received("spam", None, form)
                # Held to the commit: a concurrent post of the same person waits, then finds this lead.
                lock_lead_numbers(uow.connection)
                found = find_match(
                    uow.connection, email=submission.email, name=submission.name, company=submission.company
                )
                outcome = "resubmitted" if found is not None and found.kind == "lead" else "created"
                _attempt(uow.connection, address=address, form=form.key, now=now, outcome=outcome)
                actor = form_actor(form)
                return take(uow, process=process, form=form, submission=submission, actor=actor, found=found)
        except Conflict:
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def attempt_counts(connection: Connection, *, form: str | None = None) -> dict[str, int]:
    """How many posts of the last day ended each way (created, resubmitted, spam, rejected, limited)."""
    attempts = t.intake_attempts
    query = select(attempts.c.outcome, func.count()).group_by(attempts.c.outcome)
    if form is not None:
        query = query.where(attempts.c.form == form)
    return {outcome: int(n) for outcome, n in connection.execute(query).all()}


# CSV import ------------------------------------------------------------------------------------

IMPORT_COLUMNS = ("name", "email", "company", "source")
COLUMN_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # other columns kept as lead fields (others ignored)


@dataclass(frozen=True)
class Imported:
    """What a lead import did."""

    created: list[str]
    resubmitted: int
    already: int  # rows that repeat a lead the file or the workspace already has


def _import_form(table: Table, source: str) -> Form:
    """A form that collects every column of the file, with the usual caps."""
    fields = [FormField(key="name", required=True), FormField(key="email", type="email", max_length=254)]
    fields += [FormField(key="company")]
    extra = [c for c in table.header if c and c not in (*IMPORT_COLUMNS,)]
    for column in extra:
        key = column.strip().lower().replace(" ", "_").replace("-", "_")
        if COLUMN_KEY.match(key) and key != "no_honeypot_on_imports" and key not in {f.key for f in fields}:
            fields.append(FormField(key=key, max_length=1000))
    return Form(key="import", source=source, fields=tuple(fields), honeypot="no_honeypot_on_imports")


def _row_values(row: Mapping[str, str], form: Form) -> dict[str, str]:
    values = {c.strip().lower().replace(" ", "_").replace("-", "_"): v for c, v in row.items() if c}
    return {f.key: values.get(f.key, "") for f in form.fields}


def import_leads(
    *, uow: UnitOfWork, actor_id: str, table: Table, process_key: str | None, source: str = "import"
) -> Imported:
    """Import leads from a CSV table (columns name, email, company, source and any others routing
    reads), all or nothing: every bad row is named before anything is written. A row repeating a
    lead already there (by email, or person and company) is skipped, so importing a file twice
    creates no duplicates."""
    table.require(["name"], what="a lead file (columns name, email, company, source...)")
    actor = load_actor(uow.connection, user_id=actor_id)
    process = named_or_default_process(uow.connection, process_key)
    form = _import_form(table, source)
    problems: list[str] = []
    checked: list[tuple[Submission, str]] = []
    for index, row in enumerate(table.rows):
        if not any(v.strip() for v in row.values()):
            continue
        try:
            submission = check_submission(form, _row_values(row, form))
        except InvalidInput as exc:
            problems.append(f"line {table.line(index)}: {exc.message}")
            continue
        checked.append((submission, (row.get("source") or "").strip()[:64] or source))
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise InvalidInput(
            f"{table.name}: {len(problems)} bad row{'s' if len(problems) > 1 else ''}, nothing imported:\n"
            + "\n".join(shown),
            field="file",
        )
    created: list[str] = []
    already = 0
    lock_lead_numbers(uow.connection)
    for submission, row_source in checked:
        found = find_match(uow.connection, email=submission.email, name=submission.name, company=submission.company)
        if found is not None and found.kind == "lead":
            already += 1
            continue
        created.append(_capture_uncommitted(uow, process, form, submission, row_source, actor, found))
    uow.commit()
    return Imported(created=created, resubmitted=0, already=already)


def _capture_uncommitted(
    uow: UnitOfWork,
    process: Process,
    form: Form,
    submission: Submission,
    source: str,
    actor: Actor,
    found: Match | None,
) -> str:
    return sl.capture_lead(
        uow=uow, actor_id=actor.id, actor=actor, name=submission.name, company=submission.company,
        email=submission.email, source=source, process_key=process.key, form=form.key, fields=submission.fields,
        account_id=found.account_id if found else None, commit=False, route=True,
    )  # fmt: skip


def summary(imported: Imported) -> str:
    """One line on what an import did."""
    return f"imported {len(imported.created)} leads; {imported.already} already there (skipped)"


def form_fields(form: Form) -> Sequence[FormField]:
    """The fields a form page shows, in order."""
    return form.fields
