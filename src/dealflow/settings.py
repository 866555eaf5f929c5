"""One validated Settings object, read from ``DEALFLOW_`` environment variables and passed in."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///dealflow.db"


class Settings(BaseSettings):
    """Where the workspace lives and who is acting by default."""

    model_config = SettingsConfigDict(env_prefix="DEALFLOW_", extra="ignore")

    database_url: str = Field(default=DEFAULT_DATABASE_URL)
    user: str | None = None

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        value = value.strip()
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError(
                f"unsupported database URL {value.split(':', 1)[0]!r}: use sqlite:///PATH or postgresql://..."
            )
        return value
