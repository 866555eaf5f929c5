"""The ``dealflow`` command: its sub-commands and the one place errors become messages and exit codes."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from dealflow.cli import (
    access,
    audit,
    cadences,
    deals,
    events,
    forecast,
    handoffs,
    imports,
    inspect,
    intake,
    leads,
    metrics,
    notify,
    processes,
    scores,
    workspace,
)
from dealflow.errors import (
    Conflict,
    DealflowError,
    Forbidden,
    InvalidInput,
    NotFound,
    ProcessFileError,
    Refused,
    StorageError,
)

app = typer.Typer(
    name="dealflow",
    help="Run a team's sales process: stages with evidence gates, handoffs, next steps, one event log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
workspace.register(app)
imports.register(app)
metrics.register(app)
inspect.register(app)
audit.register(app)
access.register(app)
intake.register(app)
app.add_typer(processes.app, name="process")
app.add_typer(leads.app, name="lead")
app.add_typer(deals.app, name="deal")
app.add_typer(deals.activity_app, name="activity")
app.add_typer(deals.next_step_app, name="next-step")
app.add_typer(handoffs.app, name="handoff")
app.add_typer(events.app, name="events")
app.add_typer(forecast.app, name="forecast")
cadences.register(app)
app.add_typer(scores.app, name="score")
notify.register(app)

# Exit codes, one per kind of error (documented in the README).
EXIT_CODES: tuple[tuple[type[DealflowError], int], ...] = (
    (InvalidInput, 2),
    (Refused, 3),
    (NotFound, 4),
    (Forbidden, 5),
    (Conflict, 6),
    (StorageError, 7),
)


def report(exc: DealflowError) -> int:
    """Print an error the way a user can act on it; return the exit code."""
    err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    if isinstance(exc, ProcessFileError):
        for problem in exc.problems:
            err.print(f"error: {problem}")
    else:
        err.print(f"error: {exc.message}")
    if isinstance(exc, Refused):
        for reason in exc.reasons:
            err.print(f"  - {reason}")
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)


def run(argv: list[str]) -> int:
    """Run the command line on ``argv``; return the exit code instead of exiting."""
    try:
        app(args=argv, prog_name="dealflow", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except DealflowError as exc:
        return report(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("DEALFLOW_DEBUG"):
            raise
        Console(stderr=True).print(
            f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
            "(set DEALFLOW_DEBUG=1 for details)"
        )
        return 70
    return 0


def main() -> None:
    """Entry point of the ``dealflow`` script."""
    sys.exit(run(sys.argv[1:]))
