"""Webhooks: URLs that receive chosen events as signed JSON, managed by revops and admins, with
the log of every delivery attempt."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select

from dealflow.domain import access
from dealflow.errors import Forbidden, InvalidInput, NotFound
from dealflow.services.lookups import load_actor
from dealflow.services.notifications import WEBHOOK_EVENTS
from dealflow.store import tables as t
from dealflow.store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Webhook:
    """A webhook as kept (the secret included: it is shown to those who manage webhooks)."""

    id: str
    url: str
    secret: str
    events: tuple[str, ...]
    active: bool
    created_at: datetime
    created_by: str


def _admin(uow: UnitOfWork, actor_id: str, what: str) -> None:
    actor = load_actor(uow.connection, user_id=actor_id)
    if refusal := access.may_administer(actor, what):
        raise Forbidden(refusal)


def check_url(url: str) -> str:
    """The URL if it is an http(s) URL with a host, else InvalidInput saying why."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise InvalidInput(f"must be an http:// or https:// URL with a host, got {url[:80]!r}", field="url")
    return url


def check_events(names: list[str]) -> tuple[str, ...]:
    """The event types named, each one a webhook can receive."""
    wanted = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in wanted if n not in WEBHOOK_EVENTS]
    if not wanted or unknown:
        bad = f"unknown event {', '.join(unknown)!r}; " if unknown else ""
        raise InvalidInput(f"{bad}choose among {', '.join(WEBHOOK_EVENTS)}", field="events")
    return wanted


def add_webhook(*, uow: UnitOfWork, actor_id: str, url: str, events: list[str], secret: str | None = None) -> Webhook:
    """Register a URL for some event types; without a secret, a random one is made."""
    _admin(uow, actor_id, "manage webhooks")
    if secret is not None and not 16 <= len(secret) <= 200:
        raise InvalidInput("must be 16 to 200 characters long", field="secret")
    hook = Webhook(
        id="wh_" + secrets.token_hex(6),
        url=check_url(url),
        secret=secret or secrets.token_urlsafe(32),
        events=check_events(events),
        active=True,
        created_at=uow.clock(),
        created_by=actor_id,
    )
    row = {**hook.__dict__, "events": list(hook.events)}
    uow.connection.execute(insert(t.webhooks), row)
    uow.commit()
    return hook


def list_webhooks(*, uow: UnitOfWork, actor_id: str) -> list[Webhook]:
    """Every webhook, the oldest first."""
    _admin(uow, actor_id, "see webhooks")
    rows = uow.connection.execute(select(t.webhooks).order_by(t.webhooks.c.created_at, t.webhooks.c.id))
    return [Webhook(**{**r._mapping, "events": tuple(r.events)}) for r in rows]


def remove_webhook(*, uow: UnitOfWork, actor_id: str, webhook_id: str) -> int:
    """Delete a webhook, named by its id or by its URL (every webhook sending there): nothing more is
    sent to it (deliveries queued for it end as dead). Returns how many were removed."""
    _admin(uow, actor_id, "manage webhooks")
    hooks = t.webhooks
    by_url = webhook_id.startswith(("http://", "https://"))
    chosen = hooks.c.url == webhook_id if by_url else hooks.c.id == webhook_id
    result = uow.connection.execute(delete(hooks).where(chosen))
    if result.rowcount < 1:
        raise NotFound(f"no webhook '{webhook_id[:200]}' (give its id or its URL, as `dealflow webhook list` shows)")
    uow.commit()
    return int(result.rowcount)


def delivery_log(
    *, uow: UnitOfWork, actor_id: str, webhook_id: str | None = None, kind: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The latest delivery attempts, newest first: of one webhook, of one kind, or all."""
    _admin(uow, actor_id, "see the delivery log")
    if not 1 <= limit <= 10_000:
        raise InvalidInput("must be between 1 and 10000", field="limit")
    a, o, w = t.delivery_attempts, t.outbox, t.webhooks
    query = (
        select(
            a.c.at,
            o.c.kind,
            o.c.key,
            o.c.webhook_id,
            w.c.url,
            a.c.attempt,
            a.c.ok,
            a.c.status_code,
            a.c.error,
            a.c.duration_ms,
            o.c.status,
            o.c.payload,
        )
        .join(o, o.c.id == a.c.outbox_id)
        .outerjoin(w, w.c.id == o.c.webhook_id)
        .order_by(a.c.id.desc())
        .limit(limit)
    )
    if webhook_id is not None:
        query = query.where(o.c.webhook_id == webhook_id)
    if kind is not None:
        query = query.where(o.c.kind == kind)
    found = []
    for r in uow.connection.execute(query):
        row = dict(r._mapping)
        payload = row.pop("payload")
        row["to"] = row.pop("url") or payload.get("to")
        row["event"] = payload.get("event") or payload.get("subject")
        found.append(row)
    return found
