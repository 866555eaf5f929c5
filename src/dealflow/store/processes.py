"""The installed processes, as the rules read them: a version parsed once per engine, and the
workspace's default process."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Connection

from dealflow.errors import InvalidInput, NotFound
from dealflow.process.loading import parse_process
from dealflow.process.models import Process
from dealflow.store import queries


@lru_cache(maxsize=64)
def _parse(key: str, version: int, source: str) -> Process:
    process, _ = parse_process(source, name=f"{key}@{version}")
    return process


def load_process(connection: Connection, *, key: str, version: int | None = None) -> Process:
    """An installed process version (the newest when ``version`` is None).

    Installed versions never change, so a named version is read once per engine and kept.
    """
    cache: dict[tuple[str, int], Process] = connection.engine.__dict__.setdefault("dealflow_processes", {})
    if version is not None and (key, version) in cache:
        return cache[(key, version)]
    row = queries.process_source(connection, key=key, version=version)
    if row is None:
        installed = ", ".join(r.key for r in queries.list_processes(connection)) or "none"
        wanted = key if version is None else f"{key}@{version}"
        raise NotFound(f"no process '{wanted}' in this workspace (installed: {installed})")
    process = _parse(row.key, row.version, row.source)
    cache[(row.key, row.version)] = process
    return process


DEFAULT_PROCESS = "default_process"


def default_process_key(connection: Connection) -> str | None:
    """The workspace's default process: the one revops chose, else the first installed.

    Whatever is not named runs under it or reads it: the board, metrics, new leads and their
    conversion. Installing or importing another process later does not change it. None in a
    workspace without a process.
    """
    chosen = queries.workspace_setting(connection, name=DEFAULT_PROCESS)
    if chosen is not None and queries.process_source(connection, key=str(chosen)) is not None:
        return str(chosen)
    return queries.first_installed_process(connection)


def named_or_default_process(connection: Connection, key: str | None) -> Process:
    """The process named, else the workspace's default one; NotFound for an unknown name and
    InvalidInput when the workspace has no process at all."""
    chosen = key or default_process_key(connection)
    if chosen is None:
        raise InvalidInput("no process is installed in this workspace (run `dealflow init`)", field="process")
    return load_process(connection, key=chosen)
