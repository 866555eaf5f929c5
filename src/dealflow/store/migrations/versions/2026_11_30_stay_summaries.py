"""summaries of the finished stays: each deal's journey and the stays counted by hour of duration

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 08:00:00

``deal_journeys`` and ``stay_durations`` (see ``store/stay_summaries.py``) are filled from the
stays and deals already there: in SQL on PostgreSQL, row by row in Python elsewhere (the same
values ``dealflow rebuild`` writes).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dealflow.store import stay_summaries as summaries

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ONWARD = ", ".join(f"'{kind}'" for kind in summaries.ONWARD)
_FILL_JOURNEYS = f"""
INSERT INTO deal_journeys (deal_id, process, status, open_stage, stayed, onward)
SELECT d.id, d.process, d.status, CASE WHEN d.status = 'open' THEN d.stage END,
       '|' || coalesce(string_agg(f.stage || '|', '' ORDER BY f.first_stay), ''),
       '|' || coalesce(string_agg(f.stage || '|', '' ORDER BY f.first_onward)
                       FILTER (WHERE f.first_onward IS NOT NULL), '')
FROM deals d
LEFT JOIN (
    SELECT deal_id, stage, min(seq) AS first_stay, min(seq) FILTER (WHERE exit IN ({_ONWARD})) AS first_onward
    FROM stage_visits GROUP BY deal_id, stage
) f ON f.deal_id = d.id
GROUP BY d.id, d.process, d.status, d.stage
"""
# hour_of in SQL: the same float operations, so the same hour.
_FILL_DURATIONS = """
INSERT INTO stay_durations (process, stage, exit, overridden, hour, stays)
SELECT process, stage, exit, overridden,
       CASE WHEN seconds < 0 THEN -1
            WHEN seconds < 3600.0::float8 * h THEN h - 1
            WHEN seconds >= 3600.0::float8 * (h + 1) THEN h + 1
            ELSE h END::bigint AS hour,
       count(*)
FROM (SELECT process, stage, exit, overridden, seconds, floor(seconds / 3600.0::float8) AS h FROM stage_visits) s
GROUP BY 1, 2, 3, 4, 5
"""


def upgrade() -> None:
    op.create_table(
        "deal_journeys",
        sa.Column("deal_id", sa.String(length=64), nullable=False),
        sa.Column("process", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("open_stage", sa.String(length=64), nullable=True),
        sa.Column("stayed", sa.Text(), nullable=False),
        sa.Column("onward", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_deal_journeys_deal_id_deals")),
        sa.PrimaryKeyConstraint("deal_id", name=op.f("pk_deal_journeys")),
    )
    op.create_index(
        "ix_deal_journeys_process_journey",
        "deal_journeys",
        ["process", "status", "open_stage", "stayed", "onward"],
        unique=False,
    )
    op.create_table(
        "stay_durations",
        sa.Column("process", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("exit", sa.String(length=16), nullable=False),
        sa.Column("overridden", sa.Boolean(), nullable=False),
        sa.Column("hour", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("stays", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("process", "stage", "exit", "overridden", "hour", name=op.f("pk_stay_durations")),
    )
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_FILL_JOURNEYS)
        connection.exec_driver_sql(_FILL_DURATIONS)
        # Statistics now, not when autovacuum comes by: without them the planner expects a few rows
        # and sorts the journeys by their text instead of hashing them.
        connection.exec_driver_sql("ANALYZE deal_journeys")
        connection.exec_driver_sql("ANALYZE stay_durations")
    else:
        _fill_row_by_row(connection)


def _fill_row_by_row(connection: sa.Connection) -> None:
    meta = sa.MetaData()
    deals = sa.Table("deals", meta, autoload_with=connection)
    visits = sa.Table("stage_visits", meta, autoload_with=connection)
    stays: dict[str, list[tuple[str, str]]] = {}
    counts = summaries.Durations()
    columns = (visits.c.deal_id, visits.c.stage, visits.c.exit, visits.c.process, visits.c.overridden, visits.c.seconds)
    for deal_id, stage, exit_kind, process, overridden, seconds in connection.execute(
        sa.select(*columns).order_by(visits.c.deal_id, visits.c.seq)
    ):
        stays.setdefault(deal_id, []).append((stage, exit_kind))
        counts[(process, stage, exit_kind, bool(overridden), summaries.hour_of(seconds))] += 1
    rows = [
        summaries.journey_row(deal_id, process, status, stage, stays.get(deal_id, ()))
        for deal_id, process, status, stage in connection.execute(
            sa.select(deals.c.id, deals.c.process, deals.c.status, deals.c.stage)
        )
    ]
    summaries.insert_journeys(connection, rows)
    summaries.write_durations(connection, counts)


def downgrade() -> None:
    op.drop_table("stay_durations")
    op.drop_index("ix_deal_journeys_process_journey", table_name="deal_journeys")
    op.drop_table("deal_journeys")
