"""Every error dealflow raises on purpose, under one root.

    DealflowError
    ├── InvalidInput          a value a user gave is wrong; names the field
    │   └── ProcessFileError  a process file has problems; each names file, line and field
    ├── NotFound              no such deal, user, handoff, process...
    ├── Refused               a rule said no; ``reasons`` lists every reason
    │   ├── GateRefused       a gate failed; ``reasons`` lists every unmet criterion
    │   └── TooManyAttempts   too many failed logins lately; ``retry_after`` says when to try again
    ├── Forbidden             the actor's role may not do this
    │   └── Unauthenticated   who is asking is unknown: no session or token, or a wrong password
    ├── Conflict              someone else changed the same deal first
    └── StorageError          the database cannot be reached or is not set up

None of them carries an HTTP status or exit code: each edge maps them in one place.
"""

from __future__ import annotations

from collections.abc import Sequence


class DealflowError(Exception):
    """The root of every error dealflow raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DealflowError):
    """A value given by a user is wrong; the message names the field and the problem."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class ProcessFileError(InvalidInput):
    """A process file failed validation; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class NotFound(DealflowError):
    """Something named by id or key does not exist."""


class Refused(DealflowError):
    """A rule refused a command; ``reasons`` lists every reason, in words a rep understands."""

    def __init__(self, message: str, reasons: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.reasons = list(reasons)


class GateRefused(Refused):
    """A deal cannot leave or enter a stage: ``reasons`` lists every unmet criterion."""


class TooManyAttempts(Refused):
    """Logins for this user name or from this address failed too often lately; wait and retry."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(DealflowError):
    """The actor's role may not do this; the message says which role would be needed."""


class Unauthenticated(Forbidden):
    """Nobody is logged in, or the password, session or token given is wrong, expired or revoked."""


class Conflict(DealflowError):
    """Another change to the same record was committed first; reload and try again."""


class StorageError(DealflowError):
    """The database cannot be reached, or is not a dealflow workspace."""
