"""Bodies of logging in, users, API tokens, accounts and contacts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from dealflow.api.schemas.common import Body, Id, Key
from dealflow.services.auth import MAX_PASSWORD, Principal
from dealflow.services.tokens import ApiToken

Password = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Team = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]


class LoginRequest(Body):
    """A user name and password."""

    user: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    password: Password


class UserRef(BaseModel):
    """Who someone is and what they may do."""

    id: str
    name: str
    roles: list[str]
    team: str | None


class SessionPublic(BaseModel):
    """Who is logged in, how, and (for a session) the CSRF token unsafe requests must carry."""

    user: UserRef
    via: Literal["session", "token"]
    csrf_token: str | None
    expires_at: datetime | None

    @classmethod
    def of(cls, principal: Principal) -> SessionPublic:
        """The public view of a principal."""
        a = principal.actor
        user = UserRef(id=a.id, name=principal.name, roles=list(a.roles), team=a.team)
        return cls(user=user, via=principal.via, csrf_token=principal.csrf_token, expires_at=principal.expires_at)


class PasswordChange(Body):
    """Your current password and the new one."""

    current_password: Password
    new_password: Password


class PasswordSet(Body):
    """A user's new password (set by revops or an admin)."""

    password: Password


class UserPublic(BaseModel):
    """A user with their roles and team."""

    id: str
    name: str
    roles: list[str]
    team: str | None
    email: str | None
    created_at: datetime
    away_from: datetime | None = None
    away_until: datetime | None = None


class UserCreate(Body):
    """A new user; with ``password`` they can log in at once."""

    id: Id
    name: Name
    roles: list[Key] = Field(min_length=1, max_length=10)
    team: Team | None = None
    email: Email | None = None
    password: Password | None = None


class UserUpdate(Body):
    """The user's details to change; only the fields sent are changed (``team: null`` clears it)."""

    name: Name | None = None
    roles: list[Key] | None = Field(None, min_length=1, max_length=10)
    team: Team | None = None
    email: Email | None = None


class TokenCreate(Body):
    """A new API token: what it is for, whose (yours by default), and how many days it lasts."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    user_id: Id | None = None
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class TokenPublic(BaseModel):
    """An API token, without the token."""

    id: str
    user_id: str
    name: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenPublic:
        """The public view of a stored token."""
        return cls.model_validate(token, from_attributes=True)


class TokenCreated(TokenPublic):
    """A token just made: ``token`` is shown this once and cannot be read again."""

    token: str


class AccountCreate(Body):
    """A buying company."""

    id: Id
    name: Name
    domain: Annotated[str, StringConstraints(strip_whitespace=True, max_length=253)] | None = None


class ContactCreate(Body):
    """A person on the buying side."""

    id: Id
    name: Name
    email: Email | None = None
    title: Name | None = None
    account_id: Id | None = None


class Created(BaseModel):
    """The id of a record just created."""

    id: str


class AwaySet(Body):
    """An out-of-office period: routing gives the user no leads from ``from`` (now) until ``until``;
    ``until`` null clears it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    until: AwareDatetime | None
    from_: AwareDatetime | None = Field(default=None, alias="from")
