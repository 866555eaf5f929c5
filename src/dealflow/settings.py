"""One validated Settings object, read from ``DEALFLOW_`` environment variables and passed in."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///dealflow.db"


class Settings(BaseSettings):
    """Where the workspace lives, who is acting by default, and how the web server admits people."""

    model_config = SettingsConfigDict(env_prefix="DEALFLOW_", extra="ignore")

    database_url: str = Field(default=DEFAULT_DATABASE_URL)
    user: str | None = None
    session_idle_minutes: int = Field(default=480, ge=5, le=60 * 24 * 30)
    session_days: int = Field(default=14, ge=1, le=365)
    login_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    login_failures_per_user: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=50, ge=1)
    # None: cookies are Secure when the request came over https (directly or through a trusted proxy).
    secure_cookies: bool | None = None
    # Posts a minute from one address to the public intake forms (0: no limit).
    intake_posts_per_minute: int = Field(default=5, ge=0)
    # Where the app is reached from outside: the start of the links it sends (calendar feeds).
    # None: the address `dealflow serve` last announced, else http://127.0.0.1:8000.
    base_url: str | None = None
    # Outgoing email (the worker sends it); no host: emails wait in the outbox until one is set.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "dealflow@localhost"
    smtp_starttls: bool = False
    # Deliveries: how long to wait for the other side, and how many tries before giving up.
    delivery_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    delivery_max_attempts: int = Field(default=8, ge=1, le=50)

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
