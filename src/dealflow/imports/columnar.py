"""Importing an event log of new deals as columns: the events, ``deals`` rows and finished stays of
every deal worked out with array operations and written in bulk, without a Python object per row.

It writes what the general path (:func:`dealflow.imports.recording.record_histories`, then
:mod:`dealflow.store.new_deals`) writes for the same file, byte for byte, and reports the same
issues in the same order: a deal whose history needs a closer look (see
:mod:`dealflow.imports.event_columns`), or that the general path would skip or report, is told by
the general path's own functions, in its turn. A file naming deals an earlier import made, or
whose ids collide, is left to the general path (:func:`import_event_columns` answers None).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import combinations
from pathlib import Path
from typing import Any

import polars as pl

from dealflow.domain import events as ev
from dealflow.domain.fields import parse_field
from dealflow.errors import InvalidInput
from dealflow.imports.event_columns import EventColumns, closer_histories, read_event_columns
from dealflow.imports.generic import DIMENSIONS
from dealflow.imports.history import DealHistory, ImportReport, slug
from dealflow.imports.recording import (
    FUTURE,
    IMPORTER,
    Progress,
    Target,
    ensure_accounts,
    ensure_people,
    history_steps,
    known_deals,
    resolve_target,
)
from dealflow.process.models import Process
from dealflow.store import bulk
from dealflow.store import stay_summaries as summaries
from dealflow.store import tables as t
from dealflow.store.event_log import allocate_seqs, new_deal_batch, write_new_deals, write_stay_counts
from dealflow.store.frames import FrameForms, FrameWriter
from dealflow.store.new_deals import NewDeal
from dealflow.store.unit_of_work import UnitOfWork

PREFIX, PROCESS_KEY, PROCESS_NAME = "EV", "imported", "Imported pipeline"  # as the general event-log reader
CHUNK = 20_000  # deals written between two steps of the progress bar
_LAST = 1 << 40  # sorts an outcome's events after every stage entry
_PLAIN = r"^[ !#-\[\]-~]*$"  # strings JSON writes as they are, between quotes
_OUTCOME_EVENTS = {"won": ev.DEAL_WON, "lost": ev.DEAL_LOST, "disqualified": ev.DEAL_DISQUALIFIED}
_REF = r"[^A-Za-z0-9._-]+"  # as recording.deal_id
_C = pl.col


def import_event_columns(
    *,
    uow: UnitOfWork,
    path: Path,
    process_key: str | None,
    prefix: str | None,
    progress: Callable[[int], Progress] | None,
    importer: str = IMPORTER,
) -> ImportReport | None:
    """Import the event log at ``path`` as columns, as ``import_file`` does; None (nothing written)
    when the general path must import it."""
    report = ImportReport(format="events", file=path.name)
    columns = read_event_columns(path, report=report)
    if columns is None:
        return None
    prefix = prefix or PREFIX
    deals = columns.deals.with_columns(did=_deal_ids(prefix))
    if deals["did"].n_unique() != deals.height:
        return None  # two refs give one id: the general path reports the second as a duplicate
    known = known_deals(uow.connection, prefix)
    if known and deals["did"].is_in(sorted(known)).any():
        return None  # deals to compare with what an earlier import recorded
    report.rows = columns.records
    target = resolve_target(
        uow,
        [],
        key=slug(process_key) if process_key else PROCESS_KEY,
        name=PROCESS_NAME,
        fields=list(DIMENSIONS),
        report=report,
        order=columns.stage_order(),
        won_from=columns.won_from(),
        importer=importer,
    )
    owners = deals.filter(_C("owner").is_not_null()).unique("owner", keep="first", maintain_order=True)
    # What ensure_people reads of the histories: each owner's first deal, for the team.
    firsts = [
        DealHistory(ref="", title="", row=0, owner=o, team=team)
        for o, team in owners.select("owner", "team").iter_rows()
    ]
    people = ensure_people(uow, firsts, role=target.process.stages[0].owner_role, managers={}, report=report)
    accounts = ensure_accounts(uow, set(deals["account"].drop_nulls().to_list()), report=report)
    report.deals_seen = deals.height
    teller = _Teller(uow, columns, deals, target=target, people=people, accounts=accounts, report=report)
    built_after = (t.events, t.deals, t.stage_visits, t.deal_journeys)
    with bulk.large_writes(uow.connection), bulk.indexes_built_after(uow.connection, built_after) as first:
        teller.record(progress(deals.height) if progress else None, first_import=first)
    return report


def _deal_ids(prefix: str) -> pl.Expr:
    """``recording.deal_id`` of each ref."""
    return pl.concat_str(pl.lit(f"{prefix}-"), _C("ref").str.replace_all(_REF, "_")).str.slice(0, 64)


def json_strings(values: pl.Series) -> pl.Series:
    """Each string as JSON text, as ``json.dumps`` writes it (null stays null)."""
    plain = values.str.contains(_PLAIN)
    quoted = pl.concat_str(pl.lit('"'), values, pl.lit('"'))
    odd = values.filter(~plain).unique().to_list()
    if not odd:
        return pl.select(quoted).to_series()
    mapping = {value: bulk.json_text(value) for value in odd}
    escaped = values.replace_strict(mapping, default=None, return_dtype=pl.String)
    return pl.select(pl.when(plain).then(quoted).otherwise(escaped)).to_series()


def _json_time(moment: pl.Expr) -> pl.Expr:
    """A timestamp as the Deal model writes it in JSON (``new_deals.json_time``)."""
    whole = moment.dt.to_string("%Y-%m-%dT%H:%M:%SZ")
    return pl.when(moment.dt.microsecond() == 0).then(whole).otherwise(moment.dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ"))


def _parse_each(process: Process, name: str, values: Iterable[Any]) -> dict[Any, Any]:
    """Each value parsed as field ``name``; values it refuses (or clears) are left out."""
    found = {}
    for raw in values:
        try:
            value = parse_field(process, name, raw)
        except InvalidInput:
            continue
        if value is not None:
            found[raw] = value
    return found


def _looked_up(column: pl.Expr | str, mapping: dict[str, str]) -> pl.Expr:
    """Each value of ``column`` looked up in ``mapping`` (null where it has none)."""
    column = _C(column) if isinstance(column, str) else column
    return column.replace_strict(mapping, default=None, return_dtype=pl.String)


def _forbidden(target: Target) -> pl.Expr:
    """Whether the move into each stage entry (from the entry before it) is one ``target`` forbids."""
    keys = list(target.positions)
    pairs = [f"{a}|{b}" for a in keys for b in keys if a != b and target.forbids(a, b)]
    moved = _C("prev_key").is_not_null() & (_C("key") != _C("prev_key"))
    return moved & pl.concat_str(_C("prev_key"), pl.lit("|"), _C("key")).is_in(pairs)


def _text(*parts: pl.Expr | str) -> pl.Expr:
    """Literal strings and expressions joined into one text."""
    return pl.concat_str([pl.lit(part) if isinstance(part, str) else part for part in parts])


class _Teller:
    """Tells the deals' histories as events and writes them with their projections."""

    def __init__(
        self,
        uow: UnitOfWork,
        columns: EventColumns,
        deals: pl.DataFrame,
        *,
        target: Target,
        people: dict[str, str],
        accounts: dict[str, str],
        report: ImportReport,
    ) -> None:
        self.uow, self.columns, self.target, self.report = uow, columns, target, report
        self.process = target.process
        self.now = uow.clock()
        self.forms = FrameForms(uow.connection.dialect.name)
        actor = _looked_up("owner", people).fill_null(IMPORTER)
        self.deals = deals.with_columns(actor=actor, account_id=_looked_up("account", accounts))
        self.importer_json = bulk.json_text(target.importer)
        amounts = columns.rows["amount_value"].drop_nulls().unique().to_list()
        self.amounts = {raw: str(value) for raw, value in _parse_each(self.process, "amount", amounts).items()}

    def record(self, progress: Progress | None, *, first_import: bool = False) -> None:
        """Tell every deal and write the rows: the deals told as columns, then the others in bulk."""
        told, entries = self._told()
        general = self.deals.filter(~_C("deal").is_in(told["deal"].implode()))["deal"].to_list()
        histories = self.columns.histories
        histories |= closer_histories(self.columns, [deal for deal in general if deal not in histories])
        others = self._general(general, histories)
        events, told = self._events(told, entries)
        counts = events.group_by("deal").agg(n=pl.len().cast(pl.Int64))
        told = told.join(counts.rename({"n": "events"}), on="deal")
        more = pl.DataFrame({"deal": list(others), "n": [len(d.steps) for d in others.values()]}, schema=counts.schema)
        counts = pl.concat([counts, more]).sort("deal").with_columns(offset=_C("n").cum_sum() - _C("n"))
        total = int(counts["n"].sum() or 0)
        seqs = pl.Series(
            "seq", allocate_seqs(self.uow.connection, total, block=first_import) if total else [], dtype=pl.Int64
        )
        events = events.join(counts.select("deal", "offset"), on="deal")
        events = events.with_columns(seq=seqs.gather(events["offset"] + events["version"] - 1))
        durations = self._write(told, events, progress)
        if others:
            offsets = dict(counts.select("deal", "offset").iter_rows())
            numbers: list[int] = []
            for deal, new in others.items():
                numbers += seqs.slice(offsets[deal], len(new.steps)).to_list()
            storage = bulk.storage(self.uow.connection)
            batch = new_deal_batch(list(others.values()), numbers, storage)
            write_new_deals(self.uow.connection, batch)
            durations.update(batch.durations)
        write_stay_counts(self.uow.connection, durations)
        self.report.events_written += total
        self.report.deals_new += told.height + len(others)
        if progress is not None and general:
            progress(len(general))

    def _summaries(self, deals: pl.DataFrame, events: pl.DataFrame) -> tuple[summaries.Durations, pl.DataFrame]:
        """The counts of the finished stays of the deals told as columns, for ``stay_durations``, and
        their ``deal_journeys`` rows by deal id (see :mod:`dealflow.store.stay_summaries`), both worked
        out as column operations."""
        key = self.process.key
        stays = events.filter(_C("exit").is_not_null()).sort("seq")
        seconds = (_C("at") - _C("was_entered")).dt.total_microseconds() / 1_000_000
        counted = (
            stays.select("was_stage", "exit", _hours(seconds).alias("hour")).group_by("was_stage", "exit", "hour").len()
        )
        durations = summaries.Durations()
        for stage, exit_kind, hour, count in counted.iter_rows():
            durations[(key, stage, exit_kind, False, hour)] += count
        onward = _C("was_stage").filter(_C("exit").is_in(summaries.ONWARD))
        sets = stays.group_by("did", maintain_order=True).agg(
            _C("was_stage").unique(maintain_order=True).alias("stayed"), onward.unique(maintain_order=True)
        )
        status = _C("outcome").fill_null("open")
        journeys = (
            deals.select("did", status.alias("status"), "here")
            .join(sets, on="did", how="left")
            .select(
                _C("did").alias("deal_id"),
                pl.lit(key).alias("process"),
                "status",
                pl.when(_C("status") == "open").then(_C("here")).alias("open_stage"),
                _joined("stayed"),
                _joined("was_stage", alias="onward"),
            )
            .sort("deal_id")
        )
        return durations, journeys.select(summaries.JOURNEY_COLUMNS)

    def _general(self, deals: list[int], histories: dict[int, DealHistory]) -> dict[int, NewDeal]:
        """The deals the general path tells, in deal order, reporting what it finds."""
        found = {}
        known = self.deals.select("did", "actor", "account_id")
        for deal in deals:
            did, actor, account_id = known.row(deal)
            steps = history_steps(
                histories[deal],
                target=self.target,
                owner=actor,
                account_id=account_id,
                fmt="events",
                now=self.now,
                report=self.report,
            )
            if steps is None:
                self.report.deals_skipped += 1
                continue
            found[deal] = NewDeal(ev.deal_stream(did), self.target.importer, steps)
        return found

    def _told(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The deals told as columns, with what their events need, and their stage entries: those the
        general path would neither skip nor report."""
        target = self.target
        deals = self.deals.filter(~_C("closer"))
        entries = self.columns.entries.join(deals.select("deal"), on="deal", how="semi")
        entries = entries.with_columns(
            key=_looked_up("stage", target.stages),
            amount=_looked_up("amount_value", self.amounts),
        ).with_columns(position=_C("key").replace_strict(target.positions, default=None, return_dtype=pl.Int64))
        refused = _C("key").is_null() | (_C("amount_value").is_not_null() & _C("amount").is_null())
        if target.checked:  # a move the installed process forbids is told (and reported) by the general path
            entries = entries.sort("deal", "j").with_columns(prev_key=_C("key").shift(1).over("deal"))
            refused = refused | _forbidden(target)
        facts = entries.group_by("deal").agg(
            refused=refused.any(),
            first_at=_C("at").first(),
            last_at=_C("at").last(),
            first_amount=_C("amount").first(),
        )
        deals = deals.join(facts, on="deal").with_columns(closing=_looked_up("closing_amount", self.amounts))
        deals = deals.with_columns(self._titles(deals["title"])).with_columns(self._dimensions(deals))
        horizon = self.now + FUTURE
        closed_ok = _C("closed_at").is_null() | ((_C("closed_at") <= horizon) & (_C("closed_at") >= _C("last_at")))
        ok = (
            ~_C("refused")
            & (_C("last_at") <= horizon)
            & closed_ok
            & (_C("closing_amount").is_null() | _C("closing").is_not_null())
            & _C("title_json").is_not_null()
            & _C("dimensions_ok")
        )
        deals = deals.filter(ok)
        return deals, entries.join(deals.select("deal"), on="deal", how="semi")

    def _titles(self, titles: pl.Series) -> list[pl.Series]:
        """Each deal's title parsed as the title field, and as JSON (null where it is refused)."""
        text = self.process.field_type("title") == "text"
        plain = titles.str.contains(_PLAIN) & (titles.str.len_chars() <= 10_000) & text
        parsed = _parse_each(self.process, "title", titles.filter(~plain).unique().to_list())
        odd = {raw: value for raw, value in parsed.items() if isinstance(value, str)}
        refused = titles.replace_strict(odd, default=None, return_dtype=pl.String)
        values = pl.select(pl.when(plain).then(titles).otherwise(refused)).to_series()
        return [values.alias("title_value"), json_strings(values).alias("title_json")]

    def _dimensions(self, deals: pl.DataFrame) -> list[pl.Expr]:
        """Each dimension the process has, as JSON and as its ``deals`` column, whether every one
        parsed, and whether they came in the order the general reader would name them."""
        found: list[pl.Expr] = []
        ok = pl.lit(True)
        order: list[pl.Expr] = []
        for name in DIMENSIONS:
            if self.process.field_type(name) is None:
                found += [
                    pl.lit(None, pl.String).alias(f"{name}_json"),
                    pl.lit(None, pl.String).alias(f"{name}_column"),
                ]
                continue
            parsed = _parse_each(self.process, name, deals[name].drop_nulls().unique().to_list())
            json = {raw: bulk.json_text(value) for raw, value in parsed.items()}
            column = {raw: str(value)[:200] for raw, value in parsed.items()}
            found += [_looked_up(name, json).alias(f"{name}_json"), _looked_up(name, column).alias(f"{name}_column")]
            ok = ok & (_C(name).is_null() | _C(name).is_in(list(parsed)))
            order.append(_C(f"{name}_from"))
        # The general reader names the dimensions in the order rows first give them.
        for before, after in combinations(order, 2):
            ok = ok & (before.is_null() | after.is_null() | (before <= after))
        return [*found, ok.alias("dimensions_ok")]

    def _events(self, told: pl.DataFrame, entries: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The events of the deals told as columns (by deal, numbered by ``version``), and the deals
        with what their ``deals`` rows need."""
        entries = entries.sort("deal", "j").with_columns(
            prev_key=_C("key").shift(1).over("deal"),
            prev_position=_C("position").shift(1).over("deal"),
            amount_before=_C("amount").forward_fill().shift(1).over("deal"),
        )
        later = _C("j") > 0
        entries = entries.with_columns(
            moved=later & (_C("key") != _C("prev_key")),
            changed=later
            & _C("amount").is_not_null()
            & (_C("amount_before").is_null() | (_C("amount") != _C("amount_before"))),
        )
        entered = pl.when((_C("j") == 0) | _C("moved")).then(_C("at")).forward_fill().over("deal")
        entries = entries.with_columns(entered=entered).with_columns(entered_before=_C("entered").shift(1).over("deal"))
        finals = entries.group_by("deal").agg(
            first_key=_C("key").first(),
            here=_C("key").last(),
            entered_last=_C("entered").last(),
            final_amount=_C("amount").drop_nulls().last(),
            amount_at=_C("at").filter(_C("changed")).last(),
        )
        deals = told.join(finals, on="deal").sort("deal")
        closing_changed = (
            _C("outcome").is_not_null()
            & _C("closing").is_not_null()
            & (_C("final_amount").is_null() | (_C("closing") != _C("final_amount")))
        )
        deals = deals.with_columns(
            closing_changed=closing_changed,
            amount_last=pl.when(closing_changed).then(_C("closing")).otherwise(_C("final_amount")),
            amount_last_at=pl.when(closing_changed)
            .then(_C("closed_at"))
            .otherwise(pl.coalesce(_C("amount_at"), _C("first_at"))),
            reason_text=pl.when(_C("reason") == "").then(pl.lit("unknown")).otherwise(_C("reason")),
        )
        json = {
            "did_json": json_strings(deals["did"]),
            "actor_json": json_strings(deals["actor"]),
            "account_json": json_strings(deals["account_id"]).fill_null("null"),
            "ref_json": json_strings(deals["ref"]),
            "reason_json": json_strings(deals["reason_text"]),
            "first_key_json": json_strings(deals["first_key"]),
            "here_json": json_strings(deals["here"]),
            "source_user_json": json_strings(deals["owner"]).fill_null("null"),
        }
        deals = deals.with_columns(**json, created_json=_json_time(_C("first_at")))
        created = deals.select(
            "deal", j=pl.lit(0, pl.Int64), sub=pl.lit(0), type=pl.lit(ev.DEAL_CREATED), at="first_at",
            data=self._created(),
        )  # fmt: skip
        amounts = entries.filter("changed").select(
            "deal", "j", sub=pl.lit(0), type=pl.lit(ev.FIELDS_UPDATED), at="at",
            data=_text('{"fields": {"amount": "', _C("amount"), '"}}'),
        )  # fmt: skip
        kind = _C("position") - _C("prev_position")  # domain.moves.move_kind, as a column
        kind = (
            pl.when(kind == 1).then(pl.lit("forward")).when(kind > 1).then(pl.lit("skip")).otherwise(pl.lit("backward"))
        )
        key_json = _looked_up("key", {key: bulk.json_text(key) for key in self.target.positions})
        prev_json = _looked_up("prev_key", {key: bulk.json_text(key) for key in self.target.positions})
        moves = entries.filter("moved").select(
            "deal", "j", sub=pl.lit(1), type=pl.lit(ev.DEAL_MOVED), at="at",
            data=_text('{"from": ', prev_json, ', "to": ', key_json, ', "kind": "', kind,
                       '", "reason": null, "override": false, "imported": true}'),
            was_stage="prev_key", was_entered="entered_before", exit=kind, to_stage="key",
        )  # fmt: skip
        closings = deals.filter("closing_changed").select(
            "deal", j=pl.lit(_LAST, pl.Int64), sub=pl.lit(0), type=pl.lit(ev.FIELDS_UPDATED), at="closed_at",
            data=_text('{"fields": {"amount": "', _C("closing"), '"}}'),
        )  # fmt: skip
        outcome_type = _C("outcome").replace_strict(_OUTCOME_EVENTS, default=None, return_dtype=pl.String)
        closes = deals.filter(_C("outcome").is_not_null()).select(
            "deal", j=pl.lit(_LAST, pl.Int64), sub=pl.lit(1), type=outcome_type, at="closed_at",
            data=_text('{"reason": ', _C("reason_json"), ', "stage": ', _C("here_json"), ', "imported": true}'),
            was_stage="here", was_entered="entered_last", exit="outcome", to_stage=pl.lit(None, pl.String),
        )  # fmt: skip
        events = pl.concat([created, amounts, moves, closings, closes], how="diagonal_relaxed")
        events = events.sort("deal", "j", "sub").with_columns(version=pl.int_range(1, pl.len() + 1).over("deal"))
        return events.join(deals.select("deal", "did", "actor"), on="deal"), deals

    def _created(self) -> pl.Expr:
        """The data of each deal's creation event."""
        process = self.process
        return _text(
            '{"title": ', _C("title_json"),
            f', "process": {bulk.json_text(process.key)}, "process_version": {process.version}, "account_id": ',
            _C("account_json"), ', "owner": ', _C("actor_json"), ', "stage": ', _C("first_key_json"),
            ', "fields": {"title": ', _C("title_json"),
            _optional(_C("first_amount").is_not_null(), _text(', "amount": "', _C("first_amount"), '"')),
            *[_optional(_C(f"{n}_json").is_not_null(), _text(f', "{n}": ', _C(f"{n}_json"))) for n in DIMENSIONS],
            '}, "imported": {"format": "events", "ref": ', _C("ref_json"), ', "user": ', _C("source_user_json"), "}}",
        )  # fmt: skip

    def _state(self) -> pl.Expr:
        """Each deal's JSON state (what ``new_deals.new_deal_rows`` writes)."""
        process = self.process
        by = _text(f', "by": {self.importer_json}, "at": "')
        amount = _text('"amount": {"value": "', _C("amount_last"), '"', by, _json_time(_C("amount_last_at")), '"}')
        first_amount = _C("first_amount").is_not_null()
        fields = _text(
            '"title": {"value": ', _C("title_json"), by, _C("created_json"), '"}',
            _optional(first_amount, _text(", ", amount)),
            *[
                _optional(
                    _C(f"{name}_json").is_not_null(),
                    _text(f', "{name}": {{"value": ', _C(f"{name}_json"), by, _C("created_json"), '"}'),
                )
                for name in DIMENSIONS
            ],
            _optional(~first_amount & _C("amount_last").is_not_null(), _text(", ", amount)),
        )  # fmt: skip
        closed = _C("outcome").is_not_null()
        return _text(
            '{"id": ', _C("did_json"), ', "title": ', _C("title_json"),
            f', "process": {bulk.json_text(process.key)}, "process_version": {process.version}, "account_id": ',
            _C("account_json"), ', "owner": ', _C("actor_json"), ', "stage": ', _C("here_json"),
            ', "status": "', _C("status"), '", "created_at": "', _C("created_json"),
            '", "stage_entered_at": "', _json_time(_C("entered_last")), '", "closed_at": ',
            pl.when(closed).then(_text('"', _json_time(_C("closed_at")), '"')).otherwise(pl.lit("null")),
            ', "outcome_reason": ', pl.when(closed).then(_C("reason_json")).otherwise(pl.lit("null")),
            ', "fields": {', fields, '}, "activities": [], "contacts": [], "next_step": null, "qualification": {}, '
            '"approvals": {}, "documents": {}, "handoff": null, "entered_by": "gate", "close_date_pushes": 0, '
            '"version": ',
            _C("events").cast(pl.String), "}",
        )  # fmt: skip

    def _write(self, deals: pl.DataFrame, events: pl.DataFrame, progress: Progress | None) -> summaries.Durations:
        """Write the events, ``deals`` rows, finished stays and journeys of the deals told as columns;
        the counts of their stays, for ``stay_durations``. Each table is written in the order of its key
        (events by number, the rest by deal id), so that its B-tree grows at one end; each batch is
        written while the next is prepared."""
        forms, process, importer = self.forms, self.process, pl.lit(self.target.importer)
        event_rows = events.select(
            "deal", "seq", stream=_text("deal:", _C("did")), version="version", type="type", actor=importer,
            at=forms.stamp(_C("at")), data="data",
        )  # fmt: skip
        visit_rows = events.filter(_C("exit").is_not_null()).select(
            deal_id="did", seq="seq", process=pl.lit(process.key), stage="was_stage", owner="actor",
            entered_at=forms.stamp(_C("was_entered")), left_at=forms.stamp(_C("at")),
            seconds=forms.seconds((_C("at") - _C("was_entered")).dt.total_microseconds()), exit="exit",
            to_stage="to_stage", overridden=forms.flag(False), imported=forms.flag(True),
        )  # fmt: skip
        deals = deals.sort("did").with_columns(status=_C("outcome").fill_null("open"))
        deal_rows = deals.lazy().select(
            id="did", number=_C("did").str.extract(r"^D-(\d{1,9})$").cast(pl.Int64), title="title_value",
            process=pl.lit(process.key), process_version=pl.lit(process.version), account_id="account_id",
            owner="actor", stage="here", status="status", amount=forms.money(_C("amount_last")),
            close_date=pl.lit(None, pl.String), created_at=forms.stamp(_C("first_at")),
            stage_entered_at=forms.stamp(_C("entered_last")), closed_at=forms.stamp(_C("closed_at")),
            version="events", state=self._state(), source="source_column", segment="segment_column",
            product="product_column", outcome_reason=pl.when(_C("outcome").is_not_null()).then(_C("reason_text")),
            close_date_pushes=pl.lit(0),
        )  # fmt: skip
        event_rows, visit_rows = event_rows.sort("seq"), visit_rows.sort("deal_id", "seq")
        numbers, ids = deals["deal"].sort(), deals["did"]
        with FrameWriter(self.uow.connection) as writer:
            for start in range(0, deals.height, CHUNK):
                end = min(start + CHUNK, deals.height) - 1
                writer.write(
                    [
                        (t.events, _between(event_rows, "deal", numbers[start], numbers[end]).drop("deal")),
                        (t.deals, deal_rows.slice(start, CHUNK).collect()),
                        (t.stage_visits, _between(visit_rows, "deal_id", ids[start], ids[end])),
                    ]
                )
                if progress is not None:
                    progress(end + 1 - start)
            durations, journeys = self._summaries(deals, events)
            writer.write([(t.deal_journeys, journeys)])
        return durations


def _between(frame: pl.DataFrame, column: str, first: int | str, last: int | str) -> pl.DataFrame:
    """The rows of a frame sorted by ``column`` whose value lies from ``first`` to ``last``."""
    values = frame[column]
    start, end = values.search_sorted(first, "left"), values.search_sorted(last, "right")
    return frame.slice(start, end - start)


def _optional(condition: pl.Expr, text: pl.Expr) -> pl.Expr:
    """``text`` where ``condition`` holds, else nothing."""
    return pl.when(condition).then(text).otherwise(pl.lit(""))


def _hours(seconds: pl.Expr) -> pl.Expr:
    """:func:`dealflow.store.stay_summaries.hour_of` as a column expression: the hour of duration,
    corrected where float division lands on the wrong side of an hour's start; -1 when negative."""
    hour = (seconds / summaries.HOUR).floor()
    fixed = (
        pl.when(seconds < summaries.HOUR * hour)
        .then(hour - 1)
        .when(seconds >= summaries.HOUR * (hour + 1))
        .then(hour + 1)
        .otherwise(hour)
    )
    return pl.when(seconds < 0).then(-1).otherwise(fixed).cast(pl.Int64)


def _joined(column: str, *, alias: str | None = None) -> pl.Expr:
    """A list column of stage keys as a journey column holds them (:func:`stay_summaries.joined`)."""
    sep = summaries.SEPARATOR
    found = _C(column).fill_null(pl.lit([], dtype=pl.List(pl.String)))
    text = pl.when(found.list.len() == 0).then(pl.lit(sep)).otherwise(sep + found.list.join(sep) + sep)
    return text.alias(alias or column)
