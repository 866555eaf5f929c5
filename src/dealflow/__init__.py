"""dealflow: run a team's sales process as data, with deals that move only on evidence.

The public API, for programs that use dealflow as a library (the command line, the REST API and
the web pages use nothing else of it but these and the modules they name): a workspace is an
engine (:func:`make_engine`, :func:`upgrade`), worked in units of work (:class:`UnitOfWork`);
each use case is a function of the service modules (``deals``, ``leads``, ``cadences``,
``workspace``, ``migration``...) taking a unit of work and the acting user; errors derive from
:class:`DealflowError`. Names are imported when first used, so ``import dealflow`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "Conflict",
    "DealflowError",
    "Forbidden",
    "GateRefused",
    "InvalidInput",
    "NotFound",
    "Process",
    "ProcessFileError",
    "Refused",
    "Settings",
    "StorageError",
    "UnitOfWork",
    "cadences",
    "create_app",
    "deals",
    "leads",
    "load_process_file",
    "load_template",
    "make_engine",
    "migration",
    "parse_process",
    "upgrade",
    "workspace",
]

_HOMES = {
    "Conflict": "dealflow.errors",
    "DealflowError": "dealflow.errors",
    "Forbidden": "dealflow.errors",
    "GateRefused": "dealflow.errors",
    "InvalidInput": "dealflow.errors",
    "NotFound": "dealflow.errors",
    "ProcessFileError": "dealflow.errors",
    "Refused": "dealflow.errors",
    "StorageError": "dealflow.errors",
    "Process": "dealflow.process.models",
    "load_process_file": "dealflow.process.loading",
    "load_template": "dealflow.process.loading",
    "parse_process": "dealflow.process.loading",
    "Settings": "dealflow.settings",
    "UnitOfWork": "dealflow.store.unit_of_work",
    "make_engine": "dealflow.store.engine",
    "upgrade": "dealflow.store.engine",
    "create_app": "dealflow.server.app",
}
_MODULES = {name: f"dealflow.services.{name}" for name in ("cadences", "deals", "leads", "migration", "workspace")}


def __getattr__(name: str) -> Any:
    """A public name, imported on first use."""
    if name in _MODULES:
        return import_module(_MODULES[name])
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'dealflow' has no attribute {name!r}")
