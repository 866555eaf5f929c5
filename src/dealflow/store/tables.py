"""The database: one append-only event log and the state tables projected from it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps that always come back timezone-aware in UTC, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; times must carry a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
Json = JSON().with_variant(JSONB(), "postgresql")
Timestamp = UtcDateTime()
# SQLite has no 64-bit autoincrement type; INTEGER PRIMARY KEY is its rowid.
Serial = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("stream", String(80), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(40), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("data", Json, nullable=False),
    UniqueConstraint("stream", "version", name="uq_events_stream_version"),
)

# Everything below is a projection of the events: `dealflow rebuild` recreates it exactly.
processes = Table(
    "processes",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("source", Text, nullable=False),
    Column("installed_at", Timestamp, nullable=False),
    Column("installed_by", String(64), nullable=False),
)

# Workspace-wide choices made by revops or an admin (such as the default process), one row each.
workspace_settings = Table(
    "workspace_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Json, nullable=False),
    Column("changed_at", Timestamp, nullable=False),
    Column("changed_by", String(64), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("roles", Json, nullable=False),
    Column("team", String(64)),
    Column("email", String(254)),
    Column("created_at", Timestamp, nullable=False),
    Column("away_from", Timestamp),  # out of office: routing skips the user in [away_from, away_until)
    Column("away_until", Timestamp),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("domain", String(253), index=True),
    Column("created_at", Timestamp, nullable=False),
    Column("name_key", String(200), index=True),  # the name without case, punctuation or legal suffix
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(254)),
    Column("title", String(200)),
    Column("account_id", String(64)),
    Column("created_at", Timestamp, nullable=False),
    Column("email_key", String(254), index=True),  # the email in lower case, for finding duplicates
)

deals = Table(
    "deals",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("number", Integer, unique=True),  # n of ids shaped D-n, to number new deals
    Column("title", String(10_000), nullable=False),
    Column("process", String(64), nullable=False),
    Column("process_version", Integer, nullable=False),
    Column("account_id", String(64)),
    Column("owner", String(64), nullable=False),
    Column("stage", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount", Numeric(18, 2)),
    Column("close_date", Date),
    Column("created_at", Timestamp, nullable=False),
    Column("stage_entered_at", Timestamp, nullable=False),
    Column("closed_at", Timestamp),
    Column("version", Integer, nullable=False),
    Column("state", Json, nullable=False),
    # What metrics slice by and inspection looks at, copied out of the state for SQL.
    Column("source", String(200)),
    Column("segment", String(200)),
    Column("product", String(200)),
    Column("outcome_reason", String(64)),
    Column("close_date_pushes", Integer, nullable=False, server_default="0"),
    Index("ix_deals_process_stage", "process", "stage"),
    Index("ix_deals_owner_status", "owner", "status"),
    Index("ix_deals_status_closed_at", "status", "closed_at"),
    # The board's counts, sums and newest cards per stage, read from the index alone.
    Index("ix_deals_board", "process", "status", "stage", "number", "id", "owner", "amount"),
    # What metrics read of a deal, so that they scan this index and not the rows with their state.
    Index(
        "ix_deals_status_process_id",
        "status",
        "process",
        "id",
        postgresql_include=["owner", "stage", "amount", "created_at", "stage_entered_at", "closed_at"],
    ),
)

# One row per finished stay of a deal in a stage (the current stay is the deal's own row):
# where time in stage, conversion, skips, backward moves and overrides are read from.
stage_visits = Table(
    "stage_visits",
    metadata,
    Column("deal_id", String(64), ForeignKey("deals.id"), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # the event that ended the stay
    Column("process", String(64), nullable=False),
    Column("stage", String(64), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("entered_at", Timestamp, nullable=False),
    Column("left_at", Timestamp, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("exit", String(16), nullable=False),  # forward, skip, backward, returned, won, lost, disqualified
    Column("to_stage", String(64)),
    Column("overridden", Boolean, nullable=False),
    Column("imported", Boolean, nullable=False),
    # Time in stage reads the stays stage by stage, in order of duration.
    Index(
        "ix_stage_visits_process_stage_seconds",
        "process",
        "stage",
        "seconds",
        postgresql_include=["left_at", "exit", "overridden"],
    ),
    sqlite_with_rowid=False,  # one B-tree keyed by (deal_id, seq): one page less to write per move
)

# Summaries of the finished stays, kept with them by every writer (see store/stay_summaries.py):
# what the all-time metrics read instead of every stay.
deal_journeys = Table(
    "deal_journeys",
    metadata,
    Column("deal_id", String(64), ForeignKey("deals.id"), primary_key=True),
    Column("process", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("open_stage", String(64)),  # the stage the deal is in while it is open
    Column("stayed", Text, nullable=False),  # stages with a finished stay, "|a|b|", in the order first left
    Column("onward", Text, nullable=False),  # stages left forward, by a skip or by a win, the same way
    # The all-time funnel groups the journeys: in this index's order, without hashing their text.
    Index("ix_deal_journeys_process_journey", "process", "status", "open_stage", "stayed", "onward"),
)

stay_durations = Table(
    "stay_durations",
    metadata,
    Column("process", String(64), primary_key=True),
    Column("stage", String(64), primary_key=True),
    Column("exit", String(16), primary_key=True),
    Column("overridden", Boolean, primary_key=True),
    Column("hour", BigInteger, primary_key=True, autoincrement=False),  # stays from hour*3600 s (-1: below 0)
    Column("stays", BigInteger, nullable=False),
)

activities = Table(
    "activities",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("deal_id", String(64), ForeignKey("deals.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("summary", Text, nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("contact_id", String(64)),
)

# One row per reopening of a closed deal: metrics count reopened deals from it, not as new ones.
reopenings = Table(
    "reopenings",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("deal_id", String(64), ForeignKey("deals.id"), nullable=False, index=True),
    Column("from_status", String(16), nullable=False),
    Column("stage", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("actor", String(64), nullable=False),
)

next_steps = Table(
    "next_steps",
    metadata,
    Column("deal_id", String(64), ForeignKey("deals.id"), primary_key=True),
    Column("action", String(500), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("due", Timestamp, nullable=False),
    Column("buyer_confirmed", Boolean, nullable=False),
    Column("set_at", Timestamp, nullable=False),
    Column("set_by", String(64), nullable=False),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("deal_id", String(64), ForeignKey("deals.id"), nullable=False, index=True),
    Column("from_owner", String(64), nullable=False),
    Column("to_owner", String(64), nullable=False, index=True),
    Column("from_stage", String(64), nullable=False),
    Column("to_stage", String(64), nullable=False),
    Column("context", Json, nullable=False),
    Column("completeness", Float, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("due_at", Timestamp, nullable=False),
    Column("status", String(16), nullable=False),
    Column("resolved_at", Timestamp),
    Column("resolved_by", String(64)),
    Column("reason", Text),
)

deal_contacts = Table(
    "deal_contacts",
    metadata,
    Column("deal_id", String(64), ForeignKey("deals.id"), primary_key=True),
    Column("contact_id", String(64), primary_key=True),
    Column("role", String(64), primary_key=True),
    Column("attached_at", Timestamp, nullable=False),
)

leads = Table(
    "leads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("number", Integer, unique=True),
    Column("name", String(200), nullable=False),
    Column("company", String(200)),
    Column("email", String(254), index=True),
    Column("source", String(64)),
    Column("owner", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("closed_at", Timestamp),
    Column("reason", String(64)),
    Column("deal_id", String(64)),
    # Intake and routing: where the lead came from, what it said, and its speed-to-lead clock.
    Column("process", String(64)),
    Column("form", String(64)),
    Column("fields", Json),
    Column("account_id", String(64)),
    Column("email_domain", String(253), index=True),
    Column("person_key", String(200), index=True),
    Column("company_key", String(200), index=True),
    Column("assigned_at", Timestamp),
    Column("touched_at", Timestamp),
    Column("sla_due_at", Timestamp, index=True),  # NULL once touched, closed or escalated
    # Scoring and nurture: what the lead list sorts by, and what the nurture job looks for.
    Column("fit_score", Integer),
    Column("intent_score", Integer),
    Column("score", Integer),
    Column("learned_score", Float),
    Column("scored_at", Timestamp),
    Column("reengage_on", Date),
    Index("ix_leads_owner_status", "owner", "status"),
    Index("ix_leads_status_score", "status", "score"),
    Index("ix_leads_status_reengage_on", "status", "reengage_on"),
)

# Forecast snapshots are records of what was forecast at the time, not projections of events:
# `dealflow rebuild` leaves them alone, and nothing recomputes them from today's data.
forecast_snapshots = Table(
    "forecast_snapshots",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("taken_at", Timestamp, nullable=False),
    Column("period", String(16), nullable=False, index=True),
    Column("period_start", Timestamp, nullable=False),
    Column("period_end", Timestamp, nullable=False),
    Column("process", String(64)),
    Column("method", String(16), nullable=False),  # history or naive
    Column("trials", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("won_to_date", Numeric(18, 2), nullable=False),
    Column("expected", Numeric(18, 2), nullable=False),
    Column("p10", Numeric(18, 2), nullable=False),
    Column("p50", Numeric(18, 2), nullable=False),
    Column("p90", Numeric(18, 2), nullable=False),
    Column("commit", Numeric(18, 2)),
    Column("best_case", Numeric(18, 2)),
    Column("deals", Integer, nullable=False),
)

forecast_snapshot_deals = Table(
    "forecast_snapshot_deals",
    metadata,
    Column("snapshot_id", BigInteger, ForeignKey("forecast_snapshots.id"), primary_key=True, autoincrement=False),
    Column("deal_id", String(64), primary_key=True),  # no foreign key: `rebuild` empties deals
    Column("stage", String(130), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("probability", Float, nullable=False),
    Column("amount", Numeric(18, 2)),
    Column("forecast_category", String(16)),
    Column("rep_probability", Float),
)

# One row per touch of every cadence started on a lead or a deal (a projection of CadenceStarted,
# TouchDone and CadenceStopped; owners follow LeadAssigned, DealReassigned and HandoffAccepted).
# ``run`` is the seq of the CadenceStarted event. Status: planned (a later step), open (the next
# step), overdue (the next step past its day, marked by the due pass), done, stopped.
cadence_tasks = Table(
    "cadence_tasks",
    metadata,
    Column("run", BigInteger, primary_key=True, autoincrement=False),
    Column("step", Integer, primary_key=True, autoincrement=False),
    Column("subject", String(80), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("cadence", String(200), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("template", Text, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("owner", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("done_at", Timestamp),
    Column("done_by", String(64)),
    Column("outcome", String(16)),
    Column("days_late", Integer),  # days between the due day and the day it was done (0: on the day)
    Column("stop_reason", String(32)),
    Index("ix_cadence_tasks_owner_status_due_on", "owner", "status", "due_on"),
    Index("ix_cadence_tasks_status_due_on", "status", "due_on"),
    Index("ix_cadence_tasks_subject_status", "subject", "status"),
)

# Learned lead-scoring models, one row per training run: records of what was trained, not
# projections of events, so `dealflow rebuild` leaves them alone. The model is plain JSON
# (coefficients, scaling, calibration), never a pickle.
score_models = Table(
    "score_models",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("process", String(64), nullable=False),
    Column("trained_at", Timestamp, nullable=False),
    Column("trained_by", String(64), nullable=False),
    Column("n", Integer, nullable=False),
    Column("auc", Float, nullable=False),
    Column("model", Json, nullable=False),
    Index("ix_score_models_process_trained_at", "process", "trained_at"),
)

PROJECTIONS: tuple[Table, ...] = (
    processes,
    workspace_settings,
    users,
    accounts,
    contacts,
    deals,
    stage_visits,
    deal_journeys,
    stay_durations,
    activities,
    reopenings,
    next_steps,
    handoffs,
    deal_contacts,
    leads,
    cadence_tasks,
)

# Who may get in, and what they asked for: records of access, not projections of events, so
# `dealflow rebuild` leaves them alone (no foreign keys to users, which it empties). No secret is
# stored in the clear: passwords as argon2id hashes, session and API tokens as SHA-256 digests.
credentials = Table(
    "credentials",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("set_at", Timestamp, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the token in the cookie
    Column("user_id", String(64), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("last_seen_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False, index=True),
    Column("address", String(64)),
    Column("user_agent", String(300)),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(64), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("expires_at", Timestamp),
    Column("last_used_at", Timestamp),
    Column("revoked_at", Timestamp),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("user_name", String(64), nullable=False),
    Column("address", String(64), nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Index("ix_login_attempts_user_name_at", "user_name", "at"),
    Index("ix_login_attempts_address_at", "address", "at"),
)

# A creating request sent with an Idempotency-Key: the response to replay when it is retried.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False, index=True),
)

# Posts to the public intake forms, kept a day: the rate limit per address reads them, and the
# honeypot's catches are counted here (they make no lead and no event).
intake_attempts = Table(
    "intake_attempts",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("address", String(64), nullable=False),
    Column("form", String(64), nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("outcome", String(16), nullable=False),  # created, resubmitted, spam, rejected, limited
    Index("ix_intake_attempts_address_at", "address", "at"),
    Index("ix_intake_attempts_at", "at"),  # the purge of posts older than a day
)

# Round-robin turns per routing pool: one row per pool, incremented in the assigning transaction
# (the row lock orders concurrent posts). Derived state like a sequence: `rebuild` leaves it alone.
routing_turns = Table(
    "routing_turns",
    metadata,
    Column("pool", String(200), primary_key=True),
    Column("turns", BigInteger, nullable=False),
)

# Notifications and the worker. The outbox holds what is to be sent (emails, webhook calls),
# written in the same transaction as the events that call for it, and delivered by the worker.
# Like the access records above, these are records, not projections: `dealflow rebuild` leaves
# them alone (except sla_breaches, which is projected from the SlaBreached events).
outbox = Table(
    "outbox",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),  # what it is for: the same key is never sent twice
    Column("kind", String(16), nullable=False),  # email or webhook
    Column("payload", Json, nullable=False),
    Column("webhook_id", String(32)),
    Column("event_seq", BigInteger),
    Column("status", String(16), nullable=False),  # pending, failed (to retry), sent, dead
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", Timestamp, nullable=False),
    Column("next_attempt_at", Timestamp, nullable=False),
    Column("claimed_by", String(64)),
    Column("claimed_until", Timestamp),
    Column("sent_at", Timestamp),
    Column("last_error", Text),
    # The worker reads the rows due: by status and time, from the index alone.
    Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
)

# Every attempt to deliver an outbox row: when, how long, and what the other side said.
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("outbox_id", BigInteger, nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Float, nullable=False),
    Column("worker", String(64), nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(200), nullable=False),  # kept as given: it signs every delivery
    Column("events", Json, nullable=False),  # the event types it receives
    Column("active", Boolean, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("created_by", String(64), nullable=False),
)

# One row per job and time slot: the unique key lets only one worker run a job in a slot.
job_runs = Table(
    "job_runs",
    metadata,
    Column("job", String(64), primary_key=True),
    Column("slot", Timestamp, primary_key=True),
    Column("worker", String(64), nullable=False),
    Column("started_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp),
    Column("done", Integer),
    Column("error", Text),
)

# The service levels found breached, one per deal stage visit, handoff or lead (kind, subject,
# since): projected from the SlaBreached events, and what keeps the check from flagging twice.
sla_breaches = Table(
    "sla_breaches",
    metadata,
    Column("kind", String(16), primary_key=True),  # stage, handoff or speed_to_lead
    Column("subject", String(80), primary_key=True),  # the deal, handoff or lead id
    Column("since", Timestamp, primary_key=True),  # when the stage visit, handoff or lead began
    Column("deal_id", String(64)),
    Column("lead_id", String(64)),
    Column("stage", String(64)),
    Column("owner", String(64)),
    Column("due_at", Timestamp, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("at", Timestamp, nullable=False),
)

# Where `dealflow serve` last said it serves the workspace, so the command line can give addresses
# (the calendar feed's) that reach it; not a projection: it records the running program, not an event.
server_addresses = Table(
    "server_addresses",
    metadata,
    Column("name", String(32), primary_key=True),  # "web"
    Column("url", String(300), nullable=False),
    Column("started_at", Timestamp, nullable=False),
)

# A user's private calendar feed: the token in its URL, kept as a SHA-256 digest.
calendar_feeds = Table(
    "calendar_feeds",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(64), nullable=False, index=True),
    Column("created_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp),
)

# What the worker's checks read with nothing due: only the rows past their deadline.
Index("ix_deals_status_process_stage_entered", deals.c.status, deals.c.process, deals.c.stage, deals.c.stage_entered_at)
Index("ix_handoffs_status_due_at", handoffs.c.status, handoffs.c.due_at)
Index("ix_next_steps_due", next_steps.c.due)
PROJECTIONS = (*PROJECTIONS, sla_breaches)  # emptied and replayed by `dealflow rebuild`
