"""Importing another system's export: read, check, turn into events, all in one transaction."""

from __future__ import annotations

import gc
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dealflow.errors import InvalidInput
from dealflow.imports.columnar import import_event_columns
from dealflow.imports.generic import read_event_log
from dealflow.imports.history import ImportReport, slug
from dealflow.imports.hubspot import read_hubspot
from dealflow.imports.mapping import read_mapped
from dealflow.imports.maven import read_snapshot
from dealflow.imports.pipedrive import read_pipedrive
from dealflow.imports.recording import Progress, ensure_accounts, ensure_people, record_histories, resolve_target
from dealflow.imports.salesforce import read_salesforce
from dealflow.imports.sources import Source
from dealflow.services import access
from dealflow.services.lookups import load_actor
from dealflow.store import bulk
from dealflow.store.unit_of_work import UnitOfWork

Reader = Callable[..., Source]
FORMATS: dict[str, tuple[Reader, str]] = {
    "events": (read_event_log, "event-log CSV: deal_id, stage, timestamp, owner, amount..."),
    "maven": (read_snapshot, "snapshot tables: sales_pipeline.csv with sales_teams, accounts, products"),
    "hubspot": (read_hubspot, 'HubSpot deals export with Date entered "<stage> (<pipeline>)" columns'),
    "salesforce": (read_salesforce, "Salesforce Opportunity History report"),
    "pipedrive": (read_pipedrive, "Pipedrive deals export (current stage and status of each deal)"),
    "mapping": (read_mapped, "any CSV described by a column-mapping file given with --mapping FILE.yaml"),
}


@contextmanager
def _no_collector_pauses() -> Iterator[None]:
    """Keep Python's cycle collector off while a file is imported: a large file makes millions of
    objects that live until the end, and the collector would walk all of them again and again
    (a third of the time of a large import). Nothing an import makes needs it; it runs after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@_no_collector_pauses()
def import_file(
    *,
    uow: UnitOfWork,
    path: Path,
    fmt: str,
    process_key: str | None = None,
    prefix: str | None = None,
    date_format: str | None = None,
    mapping: Path | None = None,
    progress: Callable[[int], Progress] | None = None,
    actor_id: str,
) -> ImportReport:
    """Import ``path`` read as ``fmt``, as ``actor_id`` (revops or admin: every deal event is
    theirs, the source's owners stay the deals' owners); everything is written, or (on an error)
    nothing. On SQLite, a workspace no other program has open is written through a rollback journal
    (see :func:`dealflow.store.bulk.sole_writer`)."""
    access.administer(load_actor(uow.connection, user_id=actor_id), "import deal history")
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})", field="--format")
    with bulk.sole_writer(uow.connection):
        if fmt == "events" and date_format is None and mapping is None:
            imported = import_event_columns(
                uow=uow, path=path, process_key=process_key, prefix=prefix, progress=progress, importer=actor_id
            )
            if imported is not None:
                uow.commit()
                return imported
        report = ImportReport(format=fmt, file=path.name)
        reader, _ = FORMATS[fmt]
        extra = {}
        if mapping is not None:
            if "mapping" not in inspect.signature(reader).parameters:
                raise InvalidInput(f"--mapping is for --format mapping, not {fmt}", field="--mapping")
            extra["mapping"] = mapping
        source = reader(path, report=report, date_format=date_format, **extra)
        key = slug(process_key) if process_key else source.process_key
        target = resolve_target(
            uow,
            source.histories,
            key=key,
            name=source.process_name,
            fields=source.fields,
            report=report,
            order=source.stages,
            importer=actor_id,
        )
        first_role = target.process.stages[0].owner_role
        people = ensure_people(uow, source.histories, role=first_role, managers=source.managers, report=report)
        accounts = ensure_accounts(uow, {h.account for h in source.histories if h.account}, report=report)
        report.deals_seen = len(source.histories)
        record_histories(
            uow,
            source.histories,
            target=target,
            prefix=prefix or source.prefix,
            people=people,
            accounts=accounts,
            report=report,
            progress=progress(len(source.histories)) if progress else None,
        )
        uow.commit()
        return report
